"""Tenant load for t_fairness.sh and tests/bench/noisy_neighbour.sh.

    tenant_load.py PORT SECONDS NOISY_CLIENTS NOISY_MS QUIET_TENANTS [DB]

NOISY_CLIENTS clients of tenant "noisy" run `SELECT pg_sleep(NOISY_MS/1000)`
transactions back to back; QUIET_TENANTS clients, one per tenant q1..qN,
run `SELECT 1` every 50 ms. Either may be 0. Prints one JSON line: the
quiet tenants' latency p50/p99 (ms), counts, and for each quiet query the
number of noisy transactions that completed while it waited (p50/p99/max):
a measure of its place in the queue that does not depend on the
machine's speed (first come first served: the whole backlog).
"""
import asyncio
import json
import sys
import time

import psycopg

port, seconds, n_noisy, noisy_ms, n_quiet = (int(a) for a in sys.argv[1:6])
db = sys.argv[6] if len(sys.argv) > 6 else "app"


def conninfo(tenant):
    return (f"host=127.0.0.1 port={port} user=postgres dbname={db} "
            f"options='-c app.current_tenant_id={tenant}'")


async def noisy(deadline, out):
    conn = await psycopg.AsyncConnection.connect(conninfo("noisy"), autocommit=True, prepare_threshold=None)
    sql = f"SELECT pg_sleep({noisy_ms / 1000})"
    async with conn:
        while time.monotonic() < deadline:
            await conn.execute(sql)
            out["noisy"] += 1


async def quiet(i, deadline, lat, behind, out):
    conn = await psycopg.AsyncConnection.connect(conninfo(f"q{i}"), autocommit=True, prepare_threshold=None)
    async with conn:
        await conn.execute("SELECT 1")  # the first server, and the login, are not measured
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            n0 = out["noisy"]
            await conn.execute("SELECT 1")
            lat.append((time.monotonic() - t0) * 1000)
            behind.append(out["noisy"] - n0)
            out["quiet"] += 1
            await asyncio.sleep(0.05)


async def main():
    out = {"noisy": 0, "quiet": 0}
    lat, behind = [], []
    start = time.monotonic() + 1.0  # every client logged in first
    deadline = start + seconds
    tasks = [noisy(deadline, out) for _ in range(n_noisy)]
    tasks += [quiet(i, deadline, lat, behind, out) for i in range(1, n_quiet + 1)]
    await asyncio.gather(*tasks)
    lat.sort()
    behind.sort()
    pct = lambda v, p: round(v[min(len(v) - 1, int(len(v) * p))], 2) if v else None
    print(json.dumps({"quiet_p50_ms": pct(lat, 0.5), "quiet_p99_ms": pct(lat, 0.99), "quiet_max_ms": pct(lat, 1.0),
                      "quiet_behind_p50": pct(behind, 0.5), "quiet_behind_p99": pct(behind, 0.99),
                      "quiet_behind_max": pct(behind, 1.0),
                      "quiet_xacts": out["quiet"], "noisy_xacts": out["noisy"], "seconds": seconds}))


asyncio.run(main())
