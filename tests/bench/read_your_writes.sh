#!/bin/bash
# Read your writes: a write-then-read workload (each round inserts a row,
# then reads it back in a read-only transaction that read_routing sends to a
# replica) through one pgtide, with read_your_writes off, client and tenant,
# alternating in one run (off client tenant off client tenant ...). A
# primary and two streaming replicas, synchronous_commit = on (as in
# production). Prints per case: rounds per second, the reads' p50/p99 (the
# read transaction: BEGIN READ ONLY, SELECT, COMMIT), the share of reads
# that ran on a replica, and the reads that missed their own write.
#
# PgBouncer routes nothing to replicas, so it has no place in this table;
# "off" is what routing without the guarantee costs.
#
#   tests/bench/read_your_writes.sh [ROUNDS_PER_CLIENT] [CLIENTS] [REPEATS]
set -u
ROUNDS=${1:-1000}
CLIENTS=${2:-4}
REPEATS=${3:-2}
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c 'import psycopg' 2>/dev/null || { echo "needs python3-psycopg"; exit 1; }

echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
ryw_cluster
P=$PORT_main
REPL="replicas=127.0.0.1:$PORT_r1,127.0.0.1:$PORT_r2"
write_config "$T/p.ini" main "default_pool_size = 10" "log_connections = 0" "log_disconnections = 0" \
	"log_stats = 0" "replica_check_period = 1" "read_routing = explicit" \
	"[databases]" \
	"off = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"client = host=127.0.0.1 port=$P dbname=postgres $REPL read_your_writes=client" \
	"tenant = host=127.0.0.1 port=$P dbname=postgres $REPL read_your_writes=tenant"
pgtide_start "$T/p.ini"
for db in off client tenant; do tsql -d "$db" -c "select 1" >/dev/null; done
sleep 3 # the replicas' first checks
echo "# $CLIENTS clients x $ROUNDS rounds per case, $REPEATS repeats, read_your_writes_timeout = 50 ms (default)"
run=0
for rep in $(seq "$REPEATS"); do
	for db in off client tenant; do
		run=$((run + 1))
		# tenant: every client of one tenant; the others each alone
		out=$("$PYTHON" "$srcdir/tests/integration/ryw_load.py" "$PGTIDE_PORT" "$db" "$ROUNDS" "$P" --run "$run" \
			--clients "$CLIENTS" --tenant acme) || fail "load $db: $out"
		"$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[2]); print("%-7s %8.1f rounds/s  read p50 %6.2f ms  p99 %6.2f ms  write p50 %5.2f ms  on replicas %5.1f %%  misses %d" % (sys.argv[1], d["rounds_per_s"], d["read_p50_ms"], d["read_p99_ms"], d["write_p50_ms"], 100.0 * d["replica_reads"] / d["rounds"], d["misses"]))' "$db" "$out"
	done
done
echo "# pgtide's counters:"
psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "show replicas" | cut -c1-200
