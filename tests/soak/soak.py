#!/usr/bin/env python3
"""The soak's workload and its checks (run by tests/soak/soak.sh).

For SECONDS, at once: tenants' clients checking every answer is their own
(RLS), prepared statements, read-only transactions routed to the replica,
COPY in and out, cancels of running queries, clients that vanish
mid-transaction, backends killed under clients, and the stateful fuzzer's
hostile sessions. Before and after: pgtide's RSS, open file descriptors
and SHOW counters at rest. Afterwards they must be back near the rest
level, and no counter may be negative.

  soak.py PGTIDE_PORT PG_PORT PGTIDE_PID SECONDS
"""
import os
import random
import subprocess
import sys
import threading
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from rawclient import Conn, query  # noqa: E402

port, pgport, pid, seconds = (int(a) for a in sys.argv[1:5])
here = os.path.dirname(os.path.abspath(__file__))
CI = f"host=127.0.0.1 port={port} dbname=app user=postgres"
ADMIN = f"host=127.0.0.1 port={port} dbname=pgtide user=admin"
DIRECT = f"host=127.0.0.1 port={pgport} dbname=postgres user=postgres"
failures = []
counts = {}
lock = threading.Lock()


def count(what, n=1):
    with lock:
        counts[what] = counts.get(what, 0) + n


def fail(what):
    with lock:
        failures.append(what)


def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))


def show(what):
    with psycopg.connect(ADMIN, autocommit=True) as a:
        cur = a.execute(f"SHOW {what}")
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def rest_state():
    """What pgtide holds at rest: memory, fds, and its lists."""
    time.sleep(2)
    lists = {r["list"]: r["items"] for r in show("LISTS")}
    return rss_kb(), fds(), lists


def tenant_worker(deadline, n):
    tenant = f"t{n % 9 + 1}"
    want = n % 9 + 1
    conn = None
    while time.time() < deadline:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(CI, options=f"-c app.current_tenant_id={tenant}")
            mode = random.randrange(4)
            if mode == 0:
                with conn.transaction():
                    got = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            elif mode == 1:
                got = conn.execute("SELECT count(*) FROM items WHERE id > %s", (0,), prepare=True).fetchone()[0]
                conn.commit()
            elif mode == 2:
                conn.read_only = True
                got = conn.execute("SELECT count(*) FROM items").fetchone()[0]
                conn.commit()
                conn.read_only = False
            else:
                with conn.transaction():
                    got = conn.execute("SELECT count(*) FROM items").fetchone()[0]
                    with conn.cursor().copy("COPY (SELECT id FROM items) TO STDOUT") as cp:
                        rows = sum(1 for _ in cp.rows())
                    if rows != got:
                        fail(f"{tenant}: COPY gave {rows} rows, SELECT {got}")
            if got != want:
                fail(f"{tenant}: saw {got} rows, expected {want}")
            count("tenant transactions")
        except psycopg.Error as e:
            # killed backends and cancels reach these clients too: allowed,
            # as long as the next transaction works
            count(f"tenant errors {e.sqlstate}")
            try:
                conn.rollback()
            except Exception:
                conn = None


def copy_worker(deadline):
    conn = None
    while time.time() < deadline:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(CI, autocommit=True)
            with conn.transaction():
                with conn.cursor().copy("COPY soak_copy (a, b) FROM STDIN") as cp:
                    for i in range(500):
                        cp.write_row((i, "x" * 50))
                conn.execute("DELETE FROM soak_copy")
            count("copies in")
        except psycopg.Error as e:
            count(f"copy errors {e.sqlstate or str(e).splitlines()[0][:60]}")
            if conn is not None and conn.closed:
                count("copy connections lost")
                time.sleep(0.1)


def cancel_worker(deadline):
    while time.time() < deadline:
        try:
            with psycopg.connect(CI, autocommit=True) as conn:
                def cancel(conn=conn):
                    try:
                        conn.cancel()
                    except psycopg.Error:
                        pass  # the connection died first (the killer's work)
                t = threading.Timer(0.1 + random.random() * 0.2, cancel)
                t.start()
                try:
                    conn.execute("SELECT pg_sleep(1)")
                    # Postgres drops a cancel that reaches a backend before
                    # it has started the query (it is still reading it):
                    # on a loaded machine a few cancels sent 0.1 s after the
                    # query are lost that way, with or without a pooler.
                    # Counted; too many is a failure (see main()).
                    count("cancels lost")
                except psycopg.errors.QueryCanceled:
                    count("cancels")
                t.join()
        except psycopg.Error as e:
            count(f"cancel errors {e.sqlstate}")


def vanish_worker(deadline):
    while time.time() < deadline:
        try:
            c = Conn(port)
            c.login()
            c.send(query("BEGIN; INSERT INTO soak_copy VALUES (-1, 'vanished'); SELECT pg_advisory_xact_lock(99)"))
            c.read_until("Z")
            c.close()   # gone mid-transaction, without a Terminate
            count("vanished")
            time.sleep(0.2)
        except OSError:
            pass


def killer(deadline):
    with psycopg.connect(DIRECT, autocommit=True) as d:
        while time.time() < deadline:
            time.sleep(2)
            n = d.execute("SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity "
                          "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                          "AND application_name = '' ORDER BY random() LIMIT 1) k").fetchone()[0]
            count("backends killed", n)


def hostile(deadline):
    left = max(1, int(deadline - time.time()))
    r = subprocess.run([sys.executable, os.path.join(here, "..", "fuzz", "stateful.py"), str(port), str(pgport),
                        "--seconds", str(left), "--hostile", "4", "--good", "0"], capture_output=True, text=True)
    count("stateful fuzz runs")
    if "well-behaved clients saw no error" not in r.stdout:
        fail("stateful fuzzer: " + r.stdout.strip().replace("\n", " | ")[:300])


def main():
    with psycopg.connect(DIRECT, autocommit=True) as d:
        d.execute("CREATE TABLE IF NOT EXISTS soak_copy (a int, b text)")
    # warm up: one of each kind of client, then measure rest
    with psycopg.connect(CI, options="-c app.current_tenant_id=t1") as c:
        c.execute("SELECT count(*) FROM items").fetchone()
    rss0, fds0, lists0 = rest_state()
    print(f"# at rest before: RSS {rss0} kB, {fds0} fds, lists {lists0}")
    deadline = time.time() + seconds
    threads = [threading.Thread(target=tenant_worker, args=(deadline, i)) for i in range(12)]
    threads += [threading.Thread(target=copy_worker, args=(deadline,)) for _ in range(2)]
    threads += [threading.Thread(target=cancel_worker, args=(deadline,)) for _ in range(2)]
    threads += [threading.Thread(target=vanish_worker, args=(deadline,)),
                threading.Thread(target=killer, args=(deadline,)),
                threading.Thread(target=hostile, args=(deadline,))]
    peak = 0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_kb())
        time.sleep(1)
    rss1, fds1, lists1 = rest_state()
    # pooled servers and caches may stay; clients and their memory must go
    for _ in range(20):
        if lists1.get("used_clients", 0) <= lists0.get("used_clients", 0) + 1:
            break
        rss1, fds1, lists1 = rest_state()
    print(f"# during: peak RSS {peak} kB; counts {dict(sorted(counts.items()))}")
    print(f"# at rest after: RSS {rss1} kB, {fds1} fds, lists {lists1}")
    servers = lists1.get("used_servers", 0)
    if fds1 > fds0 + servers + 4:
        fail(f"open fds {fds0} at rest before, {fds1} after ({servers} servers)")
    asan = "libasan" in open(f"/proc/{pid}/maps").read()   # its quarantine keeps freed memory
    if not asan and rss1 > max(rss0 * 2, rss0 + 20000):
        fail(f"RSS {rss0} kB at rest before, {rss1} kB after")
    if lists1.get("used_clients", 0) > lists0.get("used_clients", 0) + 1:
        fail(f"clients left: {lists1}")
    for p in show("POOLS"):
        for k, v in p.items():
            if isinstance(v, int) and v < 0:
                fail(f"SHOW POOLS {p['database']}/{p['user']} {k} = {v}")
        if p["cl_active"] > 2 or p["cl_waiting"] or p["sv_active"] > 1:
            fail(f"pool not at rest: {p}")
    for s in show("STATS"):
        for k, v in s.items():
            if hasattr(v, "__lt__") and not isinstance(v, str) and v < 0:
                fail(f"SHOW STATS {s['database']} {k} = {v}")
    with psycopg.connect(DIRECT, autocommit=True) as d:
        it = d.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'").fetchone()[0]
        locks = d.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]
    if it or locks:
        fail(f"{it} sessions idle in transaction, {locks} advisory locks left")
    lost, cancels = counts.get("cancels lost", 0), counts.get("cancels", 0)
    if lost > max(2, (lost + cancels) // 200):
        fail(f"{lost} of {lost + cancels} cancels lost: more than a loaded machine explains (0.5%)")
    if counts.get("tenant transactions", 0) < seconds:
        fail(f"only {counts.get('tenant transactions', 0)} tenant transactions in {seconds} s")
    if failures:
        for f in failures[:20]:
            print("not ok - " + f)
        print(f"not ok - {len(failures)} problems")
        return 1
    print(f"ok - {seconds} s of mixed load: memory, descriptors and counters back at rest, every answer the "
          f"tenant's own")
    return 0


if __name__ == "__main__":
    sys.exit(main())
