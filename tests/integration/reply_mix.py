"""Replies of every size and shape, as applications read them, through
pgtide; every result is checked. Used by t_reuse.sh (does a warm pool open
no new backend?) and by tests/bench/compare.sh.

    reply_mix.py PORT DB [--threads N] [--rounds N] [--replica]

Each thread runs every case ROUNDS times, alternating between tenants, and
exits non-zero on the first wrong answer. --replica adds read-only
transactions (routed to a replica when the database has one).
"""
import argparse
import socket
import struct
import sys
import threading
import time
import traceback

import psycopg
from psycopg import errors

MB = 1024 * 1024


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def big_rows(cur):
    cur.execute("select repeat('x', 12000)")
    check(len(cur.fetchone()[0]) == 12000, "one 12 kB value")
    cur.execute("select repeat('x', 1000) from generate_series(1, 20)")
    check(len(cur.fetchall()) == 20, "20 rows of 1 kB")
    cur.execute("select g from generate_series(1, 100000) g")
    rows = cur.fetchall()
    check(len(rows) == 100000 and rows[-1][0] == 100000, "100,000 rows")
    cur.execute("select repeat('y', 1000) from generate_series(1, 10000)")
    check(sum(len(r[0]) for r in cur.fetchall()) == 10000 * 1000, "10 MB result")
    cur.execute("select repeat('z', 3 * 1024 * 1024)")
    check(len(cur.fetchone()[0]) == 3 * MB, "one 3 MB value")


def extended(cur):
    # psycopg sends parameters with the extended protocol
    cur.execute("select repeat(%s, %s) from generate_series(1, %s)", ("e", 1000, 20))
    check(len(cur.fetchall()) == 20, "extended: 20 rows of 1 kB")
    cur.execute("select repeat(%s, %s)", ("p", 2 * MB), prepare=True)
    check(len(cur.fetchone()[0]) == 2 * MB, "prepared: a 2 MB value")


def copy_out_in(conn, cur, tag):
    with cur.copy("copy (select g, repeat('c', 1000) from generate_series(1, 200) g) to stdout") as cp:
        n = sum(len(bytes(b)) for b in cp)
    check(n > 200 * 1000, "COPY TO STDOUT of 200 kB")
    with cur.copy("copy (select repeat('d', 100000) from generate_series(1, 30)) to stdout") as cp:
        n = sum(len(bytes(b)) for b in cp)
    check(n == 30 * 100001, "COPY TO STDOUT of 3 MB in 100 kB rows: %d bytes" % n)
    with conn.transaction():
        cur.execute("create temp table ci (k int, v text) on commit drop")
        with cur.copy("copy ci from stdin") as cp:
            for i in range(2000):
                cp.write_row((i, "v" * 500))
        cur.execute("select count(*), sum(length(v)) from ci")
        check(cur.fetchone() == (2000, 1000000), "COPY FROM STDIN of 1 MB")


def notices_and_errors(conn, cur):
    seen = []

    def on_notice(d):
        seen.append(len(d.message_primary or ""))

    conn.add_notice_handler(on_notice)
    cur.execute("do $$ begin raise notice '%', repeat('n', 60000); raise notice '%', repeat('m', 300000); end $$")
    check(seen[-2:] == [60000, 300000], "notices of 60 kB and 300 kB: %r" % seen[-2:])
    conn.remove_notice_handler(on_notice)
    try:
        cur.execute("do $$ begin raise exception '%', repeat('e', 200000) using errcode = 'P0001'; end $$")
        check(False, "a 200 kB error")
    except errors.RaiseException as e:
        check(len(e.diag.message_primary) == 200000, "a 200 kB error's text")
    try:
        # rows, then an error in the middle of the result
        cur.execute("select case when g = 5000 then 1 / (g - g) else g end, repeat('r', 200) "
                    "from generate_series(1, 10000) g")
        cur.fetchall()
        check(False, "an error after 4,999 rows")
    except errors.DivisionByZero:
        pass
    with conn.transaction():
        cur.execute("select repeat('t', 1000) from generate_series(1, 100)")
        check(len(cur.fetchall()) == 100, "rows inside a transaction block")
        try:
            with conn.transaction():  # a savepoint
                cur.execute("select 1 / 0 from generate_series(1, 10)")
        except errors.DivisionByZero:
            pass
        cur.execute("select repeat('u', 50000)")
        check(len(cur.fetchone()[0]) == 50000, "after a savepoint's error")


def pipeline(conn):
    with conn.pipeline() as p:
        c1 = conn.execute("select repeat('a', 100000)")
        c2 = conn.execute("select repeat(%s, 1000) from generate_series(1, 500)", ("b",))
        c3 = conn.execute("select %s::int + 1", (41,))
        p.sync()
        check(len(c1.fetchone()[0]) == 100000, "pipeline: 100 kB")
        check(len(c2.fetchall()) == 500, "pipeline: 500 rows")
        check(c3.fetchone()[0] == 42, "pipeline: 42")
    try:
        with conn.pipeline() as p:
            conn.execute("select repeat('a', 100000)")
            conn.execute("select 1 / 0")
            conn.execute("select 1")
    except errors.DivisionByZero:
        pass
    check(conn.execute("select 7").fetchone()[0] == 7, "after a failed pipeline")


def settings_and_tenant(conn, cur, tenant):
    cur.execute("set work_mem = '8MB'")  # a session setting: captured after the transaction
    cur.execute("select current_setting('work_mem'), repeat('w', 40000)")
    row = cur.fetchone()
    check(row[0] == "8MB" and len(row[1]) == 40000, "session setting follows, 40 kB")
    cur.execute("reset work_mem")
    cur.execute("select coalesce(current_setting('app.current_tenant_id', true), ''), repeat('q', 30000)")
    row = cur.fetchone()
    check(row[0] == tenant and len(row[1]) == 30000, "tenant %r seen: %r" % (tenant, row[0]))


def read_only(conn, cur):
    with conn.transaction():
        cur.execute("set transaction read only")
        cur.execute("select repeat('o', 1000) from generate_series(1, 2000)")
        check(len(cur.fetchall()) == 2000, "2 MB read-only transaction")
    conn.execute("begin read only")
    cur.execute("select g, repeat('o', 100) from generate_series(1, 20000) g")
    check(len(cur.fetchall()) == 20000, "BEGIN READ ONLY, 20,000 rows")
    conn.execute("commit")


def cancel_big(conn, cur):
    t = threading.Timer(0.2, conn.cancel)
    t.start()
    try:
        cur.execute("select pg_sleep(5), repeat('x', 100000)")
        check(False, "the cancel")
    except errors.QueryCanceled:
        pass
    t.join()
    cur.execute("select repeat('k', 70000)")
    check(len(cur.fetchone()[0]) == 70000, "after a cancel")


def slow_reader(port, db, tenant):
    """A client that reads its 10 MB answer slowly: pgtide must hold the
    server only until the client has it all, then reuse it."""
    s = socket.create_connection(("127.0.0.1", port), 30)
    params = {"user": "postgres", "database": db, "options": "-c app.current_tenant_id=" + tenant}
    body = struct.pack("!I", 196608) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    buf = bytearray()

    def read_to_z():
        while True:
            pos, rows = 0, 0
            while pos + 5 <= len(buf):
                t = buf[pos]
                n = struct.unpack_from("!I", buf, pos + 1)[0]
                if pos + 1 + n > len(buf):
                    break
                if t == ord("D"):
                    rows += 1
                if t == ord("E"):
                    raise AssertionError("slow reader: error " + bytes(buf[pos + 5:pos + 1 + n]).decode(errors="replace"))
                if t == ord("Z"):
                    del buf[:pos + 1 + n]
                    return rows
                pos += 1 + n
            d = s.recv(1 << 20)
            if not d:
                raise AssertionError("slow reader: connection closed")
            buf.extend(d)

    read_to_z()
    q = b"select repeat('s', 1000) from generate_series(1, 10000)\0"
    s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    time.sleep(0.5)  # the server finishes long before the client reads
    check(read_to_z() == 10000, "slow reader: 10,000 rows")
    s.sendall(b"X\0\0\0\4")
    s.close()


def worker(port, db, rounds, replica, tenants, errs, idx):
    try:
        for r in range(rounds):
            tenant = tenants[(idx + r) % len(tenants)]
            with psycopg.connect(host="127.0.0.1", port=port, dbname=db, user="postgres", autocommit=True,
                                 options="-c app.current_tenant_id=" + tenant) as conn:
                cur = conn.cursor()
                big_rows(cur)
                extended(cur)
                copy_out_in(conn, cur, tenant)
                notices_and_errors(conn, cur)
                pipeline(conn)
                settings_and_tenant(conn, cur, tenant)
                # a tenant switch inside the connection (pgtide answers the SET)
                other = tenants[(idx + r + 1) % len(tenants)]
                cur.execute("set app.current_tenant_id = '%s'" % other)
                settings_and_tenant(conn, cur, other)
                if replica:
                    read_only(conn, cur)
                cancel_big(conn, cur)
            slow_reader(port, db, tenant)
    except Exception:  # reported by the main thread
        errs.append("thread %d: %s" % (idx, traceback.format_exc()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("db")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--replica", action="store_true")
    a = ap.parse_args()
    tenants = ["acme", "globex", "initech", "umbrella"]
    errs = []
    ths = [threading.Thread(target=worker, args=(a.port, a.db, a.rounds, a.replica, tenants, errs, i))
           for i in range(a.threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for e in errs:
        print(e, file=sys.stderr)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
