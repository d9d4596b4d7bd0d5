"""Cancels for t_peers.sh: N clients each run `SELECT pg_sleep(SLEEP)` and
cancel it (libpq's PQcancel through psycopg: a CancelRequest on a new
connection to the same address, which the kernel or a load balancer hands
to any process).

    cancel_load.py HOST PORT N SLEEP [--random-keys K]

Prints one JSON line: cancels that landed (the query ended with 57014
well before SLEEP), lost (it ran to the end), errors, and the longest time
from the first cancel sent to a query's end (ms). With --random-keys,
also sends K CancelRequests with random keys to HOST:PORT while the
queries run, which must cancel nothing.
"""
import argparse
import json
import os
import socket
import struct
import threading
import time

import psycopg
from psycopg import errors

ap = argparse.ArgumentParser()
ap.add_argument("host")
ap.add_argument("port", type=int)
ap.add_argument("n", type=int)
ap.add_argument("sleep", type=float)
ap.add_argument("--random-keys", type=int, default=0)
ap.add_argument("--wait", type=float, default=0.5, help="seconds between the query and its cancel")
a = ap.parse_args()

ci = f"host={a.host} port={a.port} user=postgres dbname=app"
landed = lost = failed = 0
cancel_at = None
slowest = 0.0
lock = threading.Lock()
conns = [psycopg.connect(ci, autocommit=True, prepare_threshold=None) for _ in range(a.n)]
started = threading.Barrier(a.n + 1)


def run(c):
    global landed, lost, failed, slowest
    started.wait()
    t0 = time.monotonic()
    try:
        c.execute("SELECT pg_sleep(%s)", (a.sleep,))
        outcome = "lost"
    except errors.QueryCanceled:
        outcome = "landed" if time.monotonic() - t0 < a.sleep * 0.8 else "lost"
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        outcome = "failed: %r" % e
    with lock:
        if outcome == "landed":
            landed += 1
            if cancel_at is not None:
                slowest = max(slowest, time.monotonic() - cancel_at)
        elif outcome == "lost":
            lost += 1
        else:
            failed += 1
            print(outcome, flush=True)


def random_cancels(k):
    for _ in range(k):
        pid, key = struct.unpack("!II", os.urandom(8))
        s = socket.create_connection((a.host, a.port))
        s.sendall(struct.pack("!IIII", 16, 80877102, pid & 0x7FFFFFFF, key))
        s.close()


threads = [threading.Thread(target=run, args=(c,)) for c in conns]
for t in threads:
    t.start()
started.wait()
time.sleep(a.wait)
if a.random_keys:
    random_cancels(a.random_keys)
else:
    cancel_at = time.monotonic()
    for c in conns:
        c.cancel()
for t in threads:
    t.join()
for c in conns:
    c.close()
print(json.dumps({"landed": landed, "lost": lost, "failed": failed,
                  "slowest_cancel_ms": round(slowest * 1000, 1)}))
