#!/usr/bin/env python3
"""Fixed wire-protocol cases, each sent byte for byte to Postgres directly
and through pgtide: the answers must be the same (message types, SQLSTATEs,
command tags, rows, transaction status), and each must end with the
answer to a final liveness query, within a bound. The cases are what the
stateful fuzzer (stateful.py) found, kept as regressions; a new finding
becomes a new entry in CASES.

  wire_cases.py PGTIDE_PORT PG_PORT [--db DB] [--case NAME]
Exit 0 when every case matches.
"""
import argparse
import socket
import struct
import sys
import time

from rawclient import msg, query, startup_packet


def cstr(s):
    return s.encode() + b"\0"


def P(name, sql, ntypes=0):
    return msg("P", cstr(name) + cstr(sql) + struct.pack("!H", ntypes))


def B(portal, stmt, params=()):
    vals = b"".join(struct.pack("!i", len(v)) + v.encode() for v in params)
    return msg("B", cstr(portal) + cstr(stmt) + struct.pack("!HH", 0, len(params)) + vals + struct.pack("!H", 0))


def E(portal="", rows=0):
    return msg("E", cstr(portal) + struct.pack("!I", rows))


def D(kind, name):
    return msg("D", kind.encode() + cstr(name))


def C(kind, name):
    return msg("C", kind.encode() + cstr(name))


def F(oid=1234):
    return msg("F", struct.pack("!IHHH", oid, 0, 0, 0))


def S():
    return msg("S")


def H():
    return msg("H")


def Q(sql):
    return query(sql)


def CopyFail(text="fuzz"):
    return msg("f", cstr(text))


def CopyData(data=b"x"):
    return msg("d", data)


def CopyDone():
    return msg("c")


# The liveness check the fuzzer sends after each run of actions: whatever
# came before, this gets an answer (or the connection is closed, with an
# error saying why).
CHECK = [CopyFail(), S(), Q("ROLLBACK"), Q("SELECT 'end-of-case'")]

# "wait": send what came before, and let the server answer it first
WAIT = "wait"

# name -> (messages, exact): exact cases must get Postgres's answers one for
# one; the others only an answer to the final check (pgtide answers some
# requests itself, e.g. a DEALLOCATE that arrives before it can know
# whether the server will skip it).
CASES = {
    # pgtide sent a Sync of its own to answer DEALLOCATE while the server
    # skipped to the client's Sync: the skip ended early, and the server
    # went back to the pool "unclean"
    "DEALLOCATE while skipping to Sync": ([P("s1", "SELEC oops"), H(), WAIT, Q("DEALLOCATE ALL"),
                                           Q("DEALLOCATE s9"), S()], True),
    "PREPARE while skipping to Sync": ([P("", "SELECT 1/0"), B("", ""), E(), H(), WAIT, Q("PREPARE p1 AS SELECT 1"),
                                        S(), Q("EXECUTE p1")], True),
    "DEALLOCATE behind a Parse that fails": ([P("s1", "SELECT 1"), S(), B("", "s1"), E(), P("s2", "SELEC"), H(),
                                              Q("DEALLOCATE s1"), S(), B("", "s1"), E(), S()], False),
    # found by stateful.py: a Query while COPY FROM STDIN waits for data
    "Queries during COPY FROM STDIN": ([H(), CopyFail(), Q("COPY stateful_t FROM STDIN"), Q("SELECT 1"), Q("BEGIN")],
                                       False),
    "FunctionCall in a transaction block": ([Q("BEGIN"), H(), H(), F(), E("s2")], True),
    "seed16": ([B("_pgtide_tenant", "s2"), Q("COPY stateful_t FROM STDIN"), P("p1", "BEGIN"), H(), CopyData(),
                Q("PREPARE p AS SELECT 1"), E("p1"), CopyData()], False),
    "seed14": ([H(), Q("COMMIT"), CopyData(), H(), Q("FETCH c"), Q("ROLLBACK"), Q("LITEN fuzz"), CopyData(),
                Q("SELECT * FROM stateful_t"), E("s2"), D("P", "s1")], False),
    "seed5006": ([S(), P("p1", "CLOSE c"), P("", "SET app.current_tenant_id = 't1'"),
                  B("pgtide_1", "s2", ("1", "1")), Q("CREATE TEMP TABLE tt (a int)"), F(), S(), E("x" * 40),
                  b"t" + struct.pack("!I", 4), Q("VACUUM stateful_t")], False),
}


def read_msgs(sock, deadline):
    """Yield (type, body) until the connection closes or time runs out."""
    buf = bytearray()
    while True:
        while len(buf) >= 5:
            n = struct.unpack_from("!I", buf, 1)[0]
            if len(buf) < 1 + n:
                break
            t, body = chr(buf[0]), bytes(buf[5:1 + n])
            del buf[:1 + n]
            yield t, body
        left = deadline - time.time()
        if left <= 0:
            yield "timeout", b""
            return
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            d = b""
        if not d:
            yield "closed", b""
            return
        buf.extend(d)


def summary(t, body):
    """What of a message must match: SQLSTATE, tag, values, status."""
    if t in "EN":
        f = {p[:1].decode(): p[1:].decode(errors="replace") for p in body.split(b"\0") if p}
        return "%s %s" % (t, f.get("C", "?"))
    if t == "C":
        return "C " + body.rstrip(b"\0").decode(errors="replace")
    if t == "Z":
        return "Z " + body.decode()
    if t == "D":
        return "D " + body[2:].hex()[:40]
    return t


def run_case(port, db, msgs, bound=10.0):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(startup_packet({"user": "postgres", "database": db}))
    for t, _ in read_msgs(s, time.time() + 5):
        if t in ("Z", "E", "closed", "timeout"):
            break
    batch = []
    for m in msgs + CHECK:
        if m == WAIT:
            s.sendall(b"".join(batch))
            batch = []
            time.sleep(0.2)
        else:
            batch.append(m)
    s.sendall(b"".join(batch))
    out = []
    end_seen = False
    for t, body in read_msgs(s, time.time() + bound):
        if t in "SNK":  # parameter status, notices, key data: not the protocol's answers
            continue
        out.append(summary(t, body))
        if t == "D" and b"end-of-case" in body:
            end_seen = True
        if t == "Z" and end_seen:
            break
        if t in ("closed", "timeout"):
            break
    s.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pgport", type=int)
    ap.add_argument("--db", default="app")
    ap.add_argument("--pgdb", default="postgres")
    ap.add_argument("--case")
    a = ap.parse_args()
    bad = 0
    end = ["T", summary("D", b"\0\1\0\0\0\x0bend-of-case"), "C SELECT 1", "Z I"]
    for name, (msgs, exact) in CASES.items():
        if a.case and a.case != name:
            continue
        want = run_case(a.pgport, a.pgdb, msgs)
        got = run_case(a.port, a.db, msgs)
        def done(out):  # the check answered, or the connection closed
            return out[-4:] == end or out[-1:] == ["closed"]
        if not done(want):
            print("not ok - %s: Postgres itself did not answer the check: %s" % (name, want))
            bad += 1
        elif not done(got) or (exact and got != want):
            print("not ok - %s:\n  Postgres: %s\n  pgtide:   %s" % (name, want, got))
            bad += 1
        else:
            print("ok - %s (%s)" % (name, "the same answers" if exact else "the check answered"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
