#!/bin/bash
# What carrying session state costs: pgbench -S through pgtide, 20 clients
# on a pool of 10, in one run, alternating the cases round by round so
# drift hits each alike:
#   base      PGTIDE_BASE (another pgtide binary, e.g. the previous
#             release), no session state in play       [only when given]
#   plain     this pgtide, no session state in play
#   settings  each client sets a setting of its own once (SELECT
#             set_config('app.k', <client id>, false)): a server that passes
#             between clients is brought to each one's settings
#   tenants   each client has a tenant of its own (SET app.current_tenant_id)
#   reset     the same, with tenant_switch_reset = always: a DISCARD ALL
#             whenever a server passes to another tenant (the upper bound of
#             what the default costs bound users who share a pool)
# Prints TPS per round and median ratios against "plain".
#   tests/bench/session_cost.sh [SECONDS] [ROUNDS] [CLIENTS]
set -u
SECS=${1:-10}
ROUNDS=${2:-3}
CLIENTS=${3:-20}
. "$(dirname "$0")/lib.sh"

bench_primary
common=("default_pool_size = 10" "max_client_conn = 500" "log_connections = 0" "log_disconnections = 0" "log_stats = 0")
write_config "$T/on.ini" main "${common[@]}"
pgtide_start "$T/on.ini"
ON=$PGTIDE_PORT
write_config "$T/reset.ini" main "${common[@]}" "tenant_switch_reset = always" "logfile = $T/reset-file.log"
pgtide_start "$T/reset.ini"
RESET=$PGTIDE_PORT
BASE=
if [ -n "${PGTIDE_BASE:-}" ]; then
	write_config "$T/base.ini" main "${common[@]}" "logfile = $T/base-file.log"
	PGTIDE=$PGTIDE_BASE pgtide_start "$T/base.ini"
	BASE=$PGTIDE_PORT
fi

# pgbench variables live as long as the client: "done" makes the first
# transaction of each client set its state, and only that one.
cat >"$T/settings.sql" <<'SQL'
\if :done = 0
SELECT set_config('app.k', :client_id::text, false);
\set done 1
\endif
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SQL
cat >"$T/tenants.sql" <<'SQL'
\if :done = 0
SET app.current_tenant_id = t:client_id;
\set done 1
\endif
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SQL

run() { # run PORT [SCRIPT] -> tps
	local script=(-S)
	[ -n "${2:-}" ] && script=(-f "$2" -D done=0)
	pgbench -n "${script[@]}" -M simple -c "$CLIENTS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$1" -U postgres app 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
declare -a base plain settings tenants reset
for r in $(seq "$ROUNDS"); do
	[ -n "$BASE" ] && base+=("$(run "$BASE")")
	plain+=("$(run "$ON")")
	settings+=("$(run "$ON" "$T/settings.sql")")
	tenants+=("$(run "$ON" "$T/tenants.sql")")
	reset+=("$(run "$RESET" "$T/tenants.sql")")
	echo "round $r:${BASE:+ base ${base[-1]} |} plain ${plain[-1]} | settings ${settings[-1]} | tenants ${tenants[-1]} | tenants+reset ${reset[-1]} tps"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mp=$(median "${plain[@]}")
pct() { awk -v a="$1" -v b="$mp" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }'; }
echo
[ -n "$BASE" ] && echo "base (PGTIDE_BASE)       $(median "${base[@]}") tps  ($(pct "$(median "${base[@]}")") % vs plain)"
echo "plain                    $mp tps"
echo "settings per client      $(median "${settings[@]}") tps  ($(pct "$(median "${settings[@]}")") %)"
echo "tenant per client        $(median "${tenants[@]}") tps  ($(pct "$(median "${tenants[@]}")") %)"
echo "tenant + reset (always)  $(median "${reset[@]}") tps  ($(pct "$(median "${reset[@]}")") %)"
