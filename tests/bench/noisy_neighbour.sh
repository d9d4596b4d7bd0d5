#!/bin/bash
# Noisy neighbour: ten quiet tenants (one query every 50 ms each) alone, and
# beside one tenant with NOISY clients running 10 ms transactions back to
# back, on a pool of POOL servers. Through pgtide (fair among tenants),
# pgtide with max_tenant_servers = POOL - 1 ("pgtide-lim": one server never
# goes to a single tenant), and PgBouncer (first come, first served),
# alternating in one run. Prints the quiet tenants' p50/p99 in each case.
#
# Then the scheduler's own cost: pgbench -S through a busy pool (50 clients,
# pool 10) whose transactions switch among 50 tenants, against the same
# through PGTIDE_BASE (a pgtide built before the scheduler, e.g. from the
# commit before it), alternating.
#
#   tests/bench/noisy_neighbour.sh [SECONDS] [NOISY] [POOL]
#   PGTIDE_BASE=/path/to/old/pgtide tests/bench/noisy_neighbour.sh
set -u
SECS=${1:-8}
NOISY=${2:-100}
POOL=${3:-5}
. "$(dirname "$0")/lib.sh"
bench_need pgbouncer
ulimit -n "$(ulimit -Hn)"

bench_primary 10
write_config "$T/p.ini" main "default_pool_size = $POOL" "max_client_conn = 1000" "log_connections = 0" \
	"log_disconnections = 0" "log_stats = 0"
pgtide_start "$T/p.ini"
TIDE=$PGTIDE_PORT
# the same with one server kept from any single tenant
write_config "$T/l.ini" main "default_pool_size = $POOL" "max_client_conn = 1000" "log_connections = 0" \
	"log_disconnections = 0" "log_stats = 0" "max_tenant_servers = $((POOL - 1))"
pgtide_start "$T/l.ini"
TIDE_LIM=$PGTIDE_PORT
pgbouncer_start "app = host=127.0.0.1 port=$PORT_main dbname=postgres" "default_pool_size = $POOL
max_client_conn = 1000
ignore_startup_parameters = options
log_connections = 0
log_disconnections = 0
log_stats = 0"
echo "# $NOISY noisy clients (10 ms transactions), 10 quiet tenants (a query every 50 ms), pool $POOL, $SECS s per run"

load() { "$PYTHON" "$srcdir/tests/integration/tenant_load.py" "$1" "$SECS" "$2" 10 "$3"; }
show() { # show WHO WHAT JSON
	"$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[3]); print("%-10s %-12s quiet p50 %7.2f ms  p99 %7.2f ms  | noisy xacts %d" % (sys.argv[1], sys.argv[2], d["quiet_p50_ms"], d["quiet_p99_ms"], d["noisy_xacts"]))' "$@"
}
for round in 1 2; do
	for who in pgtide pgtide-lim pgbouncer; do
		port=$TIDE
		[ $who = pgtide-lim ] && port=$TIDE_LIM
		[ $who = pgbouncer ] && port=$PB_PORT
		show "$who" "quiet alone" "$(load "$port" 0 10)"
		show "$who" "with noisy" "$(load "$port" "$NOISY" 10)"
	done
done

[ -n "${PGTIDE_BASE:-}" ] || { echo "# set PGTIDE_BASE to an older pgtide to measure the scheduler's cost"; exit 0; }
cat >"$T/tenants.sql" <<'SQL'
\set t random(1, 50)
\set aid random(1, 100000 * :scale)
SET app.current_tenant_id = 't:t';
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SQL
write_config "$T/c.ini" main "default_pool_size = 10" "max_client_conn = 1000" "log_connections = 0" \
	"log_disconnections = 0" "log_stats = 0"
pgtide_start "$T/c.ini"
NEW=$PGTIDE_PORT
PGTIDE=$PGTIDE_BASE
write_config "$T/b.ini" main "default_pool_size = 10" "max_client_conn = 1000" "log_connections = 0" \
	"log_disconnections = 0" "log_stats = 0"
pgtide_start "$T/b.ini"
BASE=$PGTIDE_PORT
tps() { pgbench -n -f "$T/tenants.sql" -M simple -c 50 -j 2 -T "$SECS" -h 127.0.0.1 -p "$1" -U postgres app 2>/dev/null |
	sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
declare -a nw bs
for r in 1 2 3 4 5; do
	bs+=("$(tps "$BASE")")
	nw+=("$(tps "$NEW")")
	echo "round $r: base ${bs[-1]} tps | scheduler ${nw[-1]} tps (50 clients, 50 tenants, pool 10)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mb=$(median "${bs[@]}")
mn=$(median "${nw[@]}")
echo "median: base $mb | scheduler $mn | cost $(echo "scale=6; (1 - $mn / $mb) * 100" | bc | cut -c1-5) %"
