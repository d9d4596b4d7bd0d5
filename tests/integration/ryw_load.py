"""Write-then-read rounds for t_ryw.sh and tests/bench/read_your_writes.sh.

    ryw_load.py PORT DB ROUNDS PRIMARY_PORT [--tenant ID] [--two] [--run N] [--clients N]

Each round inserts a row (autocommit, on the primary) and at once reads it
back in a read-only transaction (BEGIN READ ONLY: read_routing sends it to
a replica). With --two the read comes from a second connection (of the
same tenant: read_your_writes = tenant). Prints one JSON line: rounds,
misses (reads that did not see the row), reads that ran on a replica
(inet_server_port() is not the primary's), rounds per second and the read
and write latencies (p50/p99, ms).
"""
import argparse
import json
import threading
import time

import psycopg

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("db")
ap.add_argument("rounds", type=int)
ap.add_argument("primary_port", type=int)
ap.add_argument("--tenant")
ap.add_argument("--two", action="store_true")
ap.add_argument("--run", type=int, default=0)
ap.add_argument("--clients", type=int, default=1, help="writers in parallel (threads), ROUNDS each")
a = ap.parse_args()

ci = f"host=127.0.0.1 port={a.port} user=postgres dbname={a.db}"
if a.tenant:
    ci += f" options='-c app.current_tenant_id={a.tenant}'"
misses = on_replica = 0
reads, writes = [], []
lock = threading.Lock()


def one(n):
    global misses, on_replica
    w = psycopg.connect(ci, autocommit=True, prepare_threshold=None)
    r = psycopg.connect(ci, autocommit=True, prepare_threshold=None) if a.two else w
    my_reads, my_writes, my_misses, my_replica = [], [], 0, 0
    for i in range(a.rounds):
        k = (a.run * 1000 + n) * 1_000_000 + i
        t0 = time.monotonic()
        w.execute("INSERT INTO ryw (k, tenant) VALUES (%s, %s)", (k, a.tenant or ""))
        t1 = time.monotonic()
        r.execute("BEGIN READ ONLY")
        cnt, port = r.execute("SELECT count(*), inet_server_port() FROM ryw WHERE k = %s", (k,)).fetchone()
        r.execute("COMMIT")
        t2 = time.monotonic()
        my_writes.append(t1 - t0)
        my_reads.append(t2 - t1)
        my_misses += cnt != 1
        my_replica += port != a.primary_port
    with lock:
        reads.extend(my_reads)
        writes.extend(my_writes)
        misses += my_misses
        on_replica += my_replica


start = time.monotonic()
threads = [threading.Thread(target=one, args=(n,)) for n in range(a.clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3) if xs else 0


print(json.dumps({
    "rounds": len(reads), "misses": misses, "replica_reads": on_replica,
    "rounds_per_s": round(len(reads) / elapsed, 1),
    "read_p50_ms": pct(reads, 0.5), "read_p99_ms": pct(reads, 0.99),
    "write_p50_ms": pct(writes, 0.5), "write_p99_ms": pct(writes, 0.99),
}))
