#!/usr/bin/env python3
"""A stateful fuzzer against a running pgtide in front of a real Postgres.

Hostile clients open connections and send random but well-framed message
sequences - valid and invalid orders (Bind before Parse, Execute without
Sync, COPY data outside COPY), unknown names, huge declared lengths,
messages cut off mid-way, writes split into pieces, storms of Sync and
Flush, cancels at random moments, abrupt closes - while well-behaved
psycopg clients run ordinary transactions beside them.

After each run of actions that left the framing whole, a hostile client
sends a liveness check:

    CopyFail  Sync  Query(ROLLBACK)  Query(SELECT 'end-1')  Query(SELECT 'end-2')

and must get the answer to one of the two final queries, or see the
connection closed, within --bound seconds: for any bytes a client sends,
each Sync and each Query gets its ReadyForQuery, or the connection is
closed with an error saying why. Postgres itself answers every such check
(--direct runs the same generator against Postgres, to prove the rule
sound). A stuck check is printed with the session's last actions; its
stream, made deterministic, belongs in wire_cases.py.

At the end: pgtide is alive, the well-behaved clients saw no error, no
check got stuck, and pgtide's pools agree with pg_stat_activity with no
server left in a transaction.

  stateful.py PGTIDE_PORT PG_PORT [--seconds N] [--seed N] [--hostile N] [--good N]
                                  [--bound SECONDS] [--direct]
Exit 0 when every check holds.
"""
import argparse
import random
import socket
import struct
import sys
import threading
import time

import psycopg

from rawclient import Conn, error_fields, msg, query, startup_packet

SQL = [
    "SELECT 1", "SELECT pg_sleep(0.05)", "BEGIN", "COMMIT", "ROLLBACK", "SELECT 1/0", "SELEC oops",
    "SELECT * FROM stateful_t", "INSERT INTO stateful_t VALUES (1)", "COPY stateful_t FROM STDIN",
    "COPY stateful_t TO STDOUT", "SET work_mem = '8MB'", "RESET ALL", "DISCARD ALL", "DEALLOCATE ALL",
    "SELECT 1; SELECT 2", "BEGIN; SELECT 1", "SAVEPOINT s", "ROLLBACK TO s", "LISTEN fuzz", "NOTIFY fuzz, 'x'",
    "CREATE TEMP TABLE tt (a int)", "DECLARE c CURSOR WITH HOLD FOR SELECT 1", "FETCH c", "CLOSE c",
    "PREPARE p AS SELECT 1", "EXECUTE p", "SELECT pg_advisory_lock(1)", "SELECT pg_advisory_unlock_all()",
    "SET app.current_tenant_id = 't1'", "VACUUM stateful_t", "SELECT repeat('x', 100000)",
    "DO $$ BEGIN PERFORM 1; END $$", "", ";", "SHOW ALL",
]
NAMES = ["", "s1", "s2", "p1", "_pgtide_tenant", "pgtide_1", "x" * 70]


def cstr(s):
    return s.encode() + b"\0"


def describe(m):
    """A message as type(fields), cut after 40 bytes: what a report shows."""
    t = chr(m[0])
    body = m[5:]
    if t in "QP":
        txt = body.replace(b"\0", b"|").decode(errors="replace").rstrip("|")
        return "%s(%s)" % (t, txt[:40] + ("..." if len(txt) > 40 else ""))
    if t in "BDEC":
        return "%s(%s)" % (t, body[:40].replace(b"\0", b"|").decode(errors="replace"))
    return t


def rand_msg(rng, key):
    k = rng.randrange(22)
    name = rng.choice(NAMES)
    if k < 5:
        return query(rng.choice(SQL))
    if k < 7:
        return msg("P", cstr(name) + cstr(rng.choice(SQL)) + struct.pack("!H", 0))
    if k < 9:
        nparams = rng.choice([0, 0, 1, 2])
        vals = b"".join(struct.pack("!i", 1) + b"1" for _ in range(nparams))
        return msg("B", cstr(rng.choice(NAMES)) + cstr(name) + struct.pack("!HH", 0, nparams) + vals + struct.pack("!H", 0))
    if k == 9:
        return msg("D", rng.choice(b"SP").to_bytes(1, "big") + cstr(name))
    if k == 10:
        return msg("E", cstr(rng.choice(NAMES)) + struct.pack("!I", rng.choice([0, 1, 2])))
    if k == 11:
        return msg("S")
    if k == 12:
        return msg("C", rng.choice(b"SP").to_bytes(1, "big") + cstr(name))
    if k == 13:
        return msg("H")
    if k == 14:
        return msg("d", rng.randbytes(rng.randrange(64)))
    if k == 15:
        return msg(rng.choice("cf"), cstr("done") if rng.random() < 0.5 else b"")
    if k == 16:
        return msg("F", struct.pack("!I", 1234) + struct.pack("!H", 0) + struct.pack("!H", 0) + struct.pack("!H", 0))
    if k == 17:
        return bytes([rng.choice(b"abgjklmnoqrstuvwyz")]) + struct.pack("!I", 4)   # not a frontend type
    if k == 18:
        return "cancel"
    if k == 19:
        # a storm of Syncs and Flushes
        return b"".join(msg(rng.choice("SSH")) for _ in range(rng.randrange(2, 10)))
    if k == 20:
        # a valid frame with a corrupted byte inside
        m = bytearray(query(rng.choice(SQL)) if rng.random() < 0.5 else
                      msg("P", cstr(name) + cstr(rng.choice(SQL)) + struct.pack("!H", 0)))
        if len(m) > 6:
            m[rng.randrange(5, len(m))] = rng.randrange(256)
        return bytes(m)
    return msg("S")


CHECK = msg("f", cstr("fuzz")) + msg("S") + query("ROLLBACK") + query("SELECT 'end-1'") + query("SELECT 'end-2'")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = self.messages = self.cancels = self.good_ok = 0
        self.checks = self.answered = self.closed = 0
        self.silent = []
        self.good_errors = []
        self.stuck = []


def skip_whole(buf, last):
    """Drop the complete messages at the head of buf (replies read while
    acting), keeping a partial one: framing is never lost. last[0]: the
    type of the last one dropped."""
    pos = 0
    while pos + 5 <= len(buf):
        n = struct.unpack_from("!I", buf, pos + 1)[0]
        if pos + 1 + n > len(buf):
            break
        last[0] = chr(buf[pos])
        pos += 1 + n
    del buf[:pos]


def await_check(c, buf, last, bound):
    """After CHECK: 'answered', 'closed', or 'stuck' with the last errors
    and ReadyForQuery statuses that came back. buf: what was read before,
    unparsed. The check's final queries may fail without running (a server
    that died under the client fails what was sent to it, the check's
    ROLLBACK included, and a transaction block it was in stays failed: 25P02
    for anything but a ROLLBACK): once the answers stop, with at least one
    ReadyForQuery since the check, a ROLLBACK and one more query go, and
    that query's answer counts."""
    c.s.settimeout(0.5)
    deadline = time.time() + bound
    seen = [last[0]] if last[0] == "E" else []  # an error read before the check
    marker = False
    probed = False
    z_since = 0
    quiet_since = time.time()
    while time.time() < deadline:
        try:
            d = c.s.recv(1 << 20)
        except socket.timeout:
            if z_since and not probed and time.time() - quiet_since > 1.5:
                probed = True
                try:
                    c.send(query("ROLLBACK") + query("SELECT 'end-3'"))
                except OSError:
                    return ("closed" if seen and seen[-1].startswith("E") else "closed silently"), seen
            continue
        except OSError:
            d = b""
        if not d:
            return ("closed" if seen and seen[-1].startswith("E") else "closed silently"), seen
        quiet_since = time.time()
        buf.extend(d)
        pos = 0
        while pos + 5 <= len(buf):
            n = struct.unpack_from("!I", buf, pos + 1)[0]
            if pos + 1 + n > len(buf):
                break
            t = chr(buf[pos])
            body = bytes(buf[pos + 5:pos + 1 + n])
            pos += 1 + n
            if t == "D" and any(k in body for k in (b"end-1", b"end-2", b"end-3")):
                marker = True
            if t in "EZ":
                seen.append(t + (error_fields(body).get("C", "") if t == "E" else body.decode(errors="replace")))
                seen = seen[-12:]
            if t == "Z":
                z_since += 1
                if marker:
                    return "answered", seen
        del buf[:pos]
    return "stuck", seen + (["(probed)"] if probed else [])


def hostile(port, db, deadline, seed, st, bound):
    rng = random.Random(seed)
    while time.time() < deadline:
        try:
            c = Conn(port, timeout=5)
            c.send(startup_packet({"user": "postgres", "database": db,
                                   "options": f"-c app.current_tenant_id=h{rng.randrange(5)}"}))
            msgs, last = c.read_until("ZE")
            if not last or last[0] != "Z":
                c.close()
                continue
            key = [m for m in msgs if m[0] == "K"]
            key = struct.unpack("!II", key[0][1]) if key else None
            c.s.settimeout(0.05)
            actions = []
            inbuf = bytearray()
            last = [""]
            for _ in range(rng.randrange(1, 40)):
                m = rand_msg(rng, key)
                if m == "cancel":
                    actions.append("a cancel")
                    if key:
                        try:
                            k = socket.create_connection(("127.0.0.1", port), 1)
                            k.sendall(struct.pack("!IIII", 16, 80877102, key[0], key[1]))
                            k.close()
                            with st.lock:
                                st.cancels += 1
                        except OSError:
                            pass
                    continue
                actions.append(describe(m))
                if rng.random() < 0.15:
                    # written in pieces of 1 to 12 bytes
                    actions[-1] += " in pieces"
                    i = 0
                    while i < len(m):
                        n = rng.randrange(1, 13)
                        c.send(m[i:i + n])
                        i += n
                else:
                    c.send(m)
                with st.lock:
                    st.messages += 1
                if rng.random() < 0.5:
                    try:
                        inbuf.extend(c.s.recv(65536))   # read a little, or not
                        skip_whole(inbuf, last)
                    except (socket.timeout, OSError):
                        pass
                if rng.random() < 0.05:
                    time.sleep(rng.random() * 0.2)
            end = rng.randrange(8)
            if end == 0:
                c.send(msg("X"))
            elif end == 1:
                c.send(b"Q" + struct.pack("!I", 1 << 30))   # a huge declared length, then gone
            elif end == 2:
                whole = query("SELECT 1")
                c.send(whole[: rng.randrange(1, len(whole))])   # cut mid-message
            else:
                c.s.settimeout(5)
                c.send(CHECK)
                res, seen = await_check(c, inbuf, last, bound)
                with st.lock:
                    st.checks += 1
                    if res == "answered":
                        st.answered += 1
                    elif res == "closed":
                        st.closed += 1
                    elif res == "closed silently":
                        st.closed += 1
                        st.silent.append((seed, actions[-12:], seen))
                    else:
                        st.stuck.append((seed, actions[-12:], seen))
            c.close()
            with st.lock:
                st.sessions += 1
        except OSError:
            pass


def good(port, deadline, n, st):
    tenant = f"g{n}"
    conn = None
    while time.time() < deadline:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app",
                                       options=f"-c app.current_tenant_id={tenant}", autocommit=True)
            with conn.transaction():
                who = conn.execute("SELECT current_setting('app.current_tenant_id', true)").fetchone()[0]
                cnt = conn.execute("SELECT count(*) FROM generate_series(1, %s)", (n + 3,)).fetchone()[0]
            if who != tenant or cnt != n + 3:
                raise RuntimeError(f"wrong answer: tenant {who!r} count {cnt}")
            with st.lock:
                st.good_ok += 1
        except Exception as e:   # any error a well-behaved client sees is a finding
            with st.lock:
                st.good_errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            time.sleep(0.1)
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pgport", type=int)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--hostile", type=int, default=8)
    ap.add_argument("--good", type=int, default=4)
    ap.add_argument("--bound", type=float, default=20, help="seconds a liveness check may take")
    ap.add_argument("--direct", action="store_true", help="hostile clients against Postgres itself")
    a = ap.parse_args()
    with psycopg.connect(f"host=127.0.0.1 port={a.pgport} user=postgres dbname=postgres", autocommit=True) as d:
        d.execute("CREATE TABLE IF NOT EXISTS stateful_t (a int)")
    st = Stats()
    deadline = time.time() + a.seconds
    port, db = (a.pgport, "postgres") if a.direct else (a.port, "app")
    threads = [threading.Thread(target=hostile, args=(port, db, deadline, a.seed + i, st, a.bound))
               for i in range(a.hostile)]
    if not a.direct:
        threads += [threading.Thread(target=good, args=(a.port, deadline, i, st)) for i in range(a.good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = "Postgres directly" if a.direct else "pgtide"
    print(f"# seed {a.seed}, {target}: {st.sessions} hostile sessions, {st.messages} messages, {st.cancels} cancels; "
          f"{st.checks} liveness checks ({st.answered} answered, {st.closed} closed); {st.good_ok} good transactions")
    ok = True
    if st.stuck:
        ok = False
        print(f"not ok - {len(st.stuck)} of {st.checks} liveness checks got neither an answer nor a close "
              f"within {a.bound:g} s ({target})")
        for seed, actions, seen in st.stuck[:5]:
            print(f"#   seed {seed}: " + ";  ".join(actions))
            print(f"#     after the check: {seen}")
    else:
        print(f"ok - every liveness check answered or closed ({st.checks}, {target})")
    if st.silent:
        # Postgres closes some streams with no error (a message type it
        # does not know): a finding only through pgtide
        print(f"# {len(st.silent)} closed with no error first ({target})")
        if not a.direct:
            ok = False
            print(f"not ok - {len(st.silent)} connections closed with no error saying why")
            for seed, actions, seen in st.silent[:5]:
                print(f"#   seed {seed}: " + ";  ".join(actions))
                print(f"#     after the check: {seen}")
    if a.direct:
        return 0 if ok else 1
    if st.good_errors:
        ok = False
        print(f"not ok - well-behaved clients saw {len(st.good_errors)} errors: {sorted(set(st.good_errors))[:5]}")
    else:
        print("ok - well-behaved clients saw no error")
    # everything settles: servers back in the pool, nothing left in a transaction
    settled = False
    for _ in range(60):
        with psycopg.connect(f"host=127.0.0.1 port={a.port} user=admin dbname=pgtide", autocommit=True) as adm:
            cur = adm.execute("SHOW POOLS")
            cols = [x.name for x in cur.description]
            pools = [dict(zip(cols, r)) for r in cur.fetchall()]
            cur = adm.execute("SHOW SERVERS")
            cols = [x.name for x in cur.description]
            servers = [dict(zip(cols, r)) for r in cur.fetchall()]
        with psycopg.connect(f"host=127.0.0.1 port={a.pgport} user=postgres dbname=postgres", autocommit=True) as d:
            backends = d.execute("SELECT pid, state FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                 "AND pid <> pg_backend_pid()").fetchall()
        busy = sum(p["sv_active"] + p["cl_waiting"] for p in pools)
        pids = {s["remote_pid"] for s in servers}
        in_txn = [b for b in backends if b[1] and b[1].startswith("idle in transaction")]
        if busy == 0 and not in_txn and pids == {b[0] for b in backends}:
            settled = True
            break
        time.sleep(0.5)
    if settled:
        print(f"ok - pools settled: {len(servers)} servers, each a backend in pg_stat_activity, none in a transaction")
    else:
        ok = False
        print(f"not ok - pools did not settle: busy {busy}, in transaction {in_txn}, "
              f"pgtide's backends {sorted(pids)} vs Postgres's {sorted(b[0] for b in backends)}")
    for p in pools:
        for k, v in p.items():
            if isinstance(v, int) and v < 0:
                ok = False
                print(f"not ok - SHOW POOLS {p['database']}/{p['user']} {k} = {v}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
