#!/usr/bin/env python3
"""A stateful fuzzer against a running pgtide in front of a real Postgres.

Hostile clients open connections and send random but well-framed message
sequences - valid and invalid orders (Bind before Parse, Execute without
Sync, COPY data outside COPY), unknown names, huge declared lengths,
messages cut off mid-way, cancels at random moments, abrupt closes -
while well-behaved psycopg clients run ordinary transactions beside them.
At the end: pgtide is alive, the well-behaved clients saw no error, and
pgtide's pools agree with pg_stat_activity with no server left in a
transaction.

  stateful.py PGTIDE_PORT PG_PORT [--seconds N] [--seed N] [--hostile N] [--good N]
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


def rand_msg(rng, key):
    k = rng.randrange(20)
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
    return msg("S")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = self.messages = self.cancels = self.good_ok = 0
        self.good_errors = []


def hostile(port, deadline, seed, st):
    rng = random.Random(seed)
    while time.time() < deadline:
        try:
            c = Conn(port, timeout=5)
            c.send(startup_packet({"user": "postgres", "database": "app",
                                   "options": f"-c app.current_tenant_id=h{rng.randrange(5)}"}))
            msgs, last = c.read_until("ZE")
            if not last or last[0] != "Z":
                c.close()
                continue
            key = [m for m in msgs if m[0] == "K"]
            key = struct.unpack("!II", key[0][1]) if key else None
            c.s.settimeout(0.05)
            for _ in range(rng.randrange(1, 40)):
                m = rand_msg(rng, key)
                if m == "cancel":
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
                c.send(m)
                with st.lock:
                    st.messages += 1
                if rng.random() < 0.5:
                    try:
                        c.s.recv(65536)   # read a little, or not
                    except (socket.timeout, OSError):
                        pass
                if rng.random() < 0.05:
                    time.sleep(rng.random() * 0.2)
            end = rng.randrange(6)
            if end == 0:
                c.send(msg("X"))
            elif end == 1:
                c.send(b"Q" + struct.pack("!I", 1 << 30))   # a huge declared length, then gone
            elif end == 2:
                whole = query("SELECT 1")
                c.send(whole[: rng.randrange(1, len(whole))])   # cut mid-message
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
    a = ap.parse_args()
    with psycopg.connect(f"host=127.0.0.1 port={a.pgport} user=postgres dbname=postgres", autocommit=True) as d:
        d.execute("CREATE TABLE IF NOT EXISTS stateful_t (a int)")
    st = Stats()
    deadline = time.time() + a.seconds
    threads = [threading.Thread(target=hostile, args=(a.port, deadline, a.seed + i, st)) for i in range(a.hostile)]
    threads += [threading.Thread(target=good, args=(a.port, deadline, i, st)) for i in range(a.good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"# seed {a.seed}: {st.sessions} hostile sessions, {st.messages} messages, {st.cancels} cancels; "
          f"{st.good_ok} good transactions")
    ok = True
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
