#!/bin/bash
# What tenant context costs: pgbench -S through one pgtide, clients with a
# tenant against clients without one (and against tenant_setting off),
# alternating runs so drift hits each alike. Prints TPS per run and the
# median ratio.
#   tests/bench/tenant_cost.sh [SECONDS] [ROUNDS] [CLIENTS]
set -u
SECS=${1:-10}
ROUNDS=${2:-3}
CLIENTS=${3:-20}
. "$(dirname "$0")/lib.sh"

bench_primary
write_config "$T/on.ini" main "default_pool_size = 10" "max_client_conn = 500" "log_connections = 0" "log_disconnections = 0" "log_stats = 0"
pgtide_start "$T/on.ini"
ON=$PGTIDE_PORT
write_config "$T/off.ini" main "default_pool_size = 10" "max_client_conn = 500" "log_connections = 0" "log_disconnections = 0" "log_stats = 0" "tenant_setting ="
pgtide_start "$T/off.ini"
OFF=$PGTIDE_PORT

run() { # run PORT OPTIONS -> tps
	PGOPTIONS="$2" pgbench -n -S -M simple -c "$CLIENTS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$1" -U postgres app 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
declare -a off none with
for r in $(seq "$ROUNDS"); do
	off+=("$(run $OFF '')")
	none+=("$(run $ON '')")
	with+=("$(run $ON '-c app.current_tenant_id=acme')")
	echo "round $r: tenant_setting off ${off[-1]} tps | no tenant ${none[-1]} tps | tenant acme ${with[-1]} tps"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${off[@]}"); mn=$(median "${none[@]}"); mw=$(median "${with[@]}")
echo
echo "median tps: off $mo | no tenant $mn | tenant $mw"
echo "cost of a tenant vs none:        $(echo "scale=2; (1 - $mw / $mn) * 100" | bc) %"
echo "cost of a tenant vs feature off: $(echo "scale=2; (1 - $mw / $mo) * 100" | bc) %"
