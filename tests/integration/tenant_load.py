"""Tenant load for t_fairness.sh and tests/bench/noisy_neighbour.sh.

    tenant_load.py PORT SECONDS NOISY_CLIENTS NOISY_MS QUIET_TENANTS [DB]

NOISY_CLIENTS clients of tenant "noisy" run `SELECT pg_sleep(NOISY_MS/1000)`
transactions back to back; QUIET_TENANTS clients, one per tenant q1..qN,
run `SELECT 1` every 50 ms. Either may be 0. Prints one JSON line: the
quiet tenants' latency p50/p99 (ms) and counts.
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


async def quiet(i, deadline, lat, out):
    conn = await psycopg.AsyncConnection.connect(conninfo(f"q{i}"), autocommit=True, prepare_threshold=None)
    async with conn:
        await conn.execute("SELECT 1")  # the first server, and the login, are not measured
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            await conn.execute("SELECT 1")
            lat.append((time.monotonic() - t0) * 1000)
            out["quiet"] += 1
            await asyncio.sleep(0.05)


async def main():
    out = {"noisy": 0, "quiet": 0}
    lat = []
    start = time.monotonic() + 1.0  # every client logged in first
    deadline = start + seconds
    tasks = [noisy(deadline, out) for _ in range(n_noisy)]
    tasks += [quiet(i, deadline, lat, out) for i in range(1, n_quiet + 1)]
    await asyncio.gather(*tasks)
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))], 2) if lat else None
    print(json.dumps({"quiet_p50_ms": pct(0.5), "quiet_p99_ms": pct(0.99), "quiet_max_ms": pct(1.0),
                      "quiet_xacts": out["quiet"], "noisy_xacts": out["noisy"], "seconds": seconds}))


asyncio.run(main())
