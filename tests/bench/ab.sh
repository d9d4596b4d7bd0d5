#!/bin/bash
# Two pgtide builds side by side, in the same run: what a change costs.
#
#   tests/bench/ab.sh OLD_PGTIDE NEW_PGTIDE [SECONDS] [ROUNDS] [SCENARIOS...]
#
# Starts one throwaway Postgres and both binaries with the same settings
# (transaction mode, pool of 20, max_prepared_statements = 200, each in a
# session of its own), then runs each scenario on A and B alternately,
# A B / B A round by round, and prints per scenario the medians of TPS and
# of the pooler's own CPU time per transaction (utime + stime from
# /proc/PID/stat), with the ratio B/A. Scenarios: S-simple-N, S-extended-N,
# S-prepared-N (pgbench -S with that protocol and N clients), tpcb-N.
# Default: S-prepared-50 S-extended-50 S-simple-50.
#
# To build the old binary: git worktree add /tmp/old REV && (cd /tmp/old &&
# autoreconf -fi && ./configure && make -j2 src/pgtide).
set -u
A_BIN=${1:?old pgtide binary}
B_BIN=${2:?new pgtide binary}
SECS=${3:-10}
ROUNDS=${4:-3}
shift 4 2>/dev/null || shift $#
. "$(dirname "$0")/lib.sh"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} = 0 ] && SCENARIOS=(S-prepared-50 S-extended-50 S-simple-50)

HZ=$(getconf CLK_TCK)
bench_primary 10
echo "# A = $A_BIN ($("$A_BIN" --version)), B = $B_BIN ($("$B_BIN" --version))"
echo "# $SECS s per run, $ROUNDS rounds, pgbench -j 2, pools of 20, transaction mode"

COMMON=("default_pool_size = 20" "max_client_conn = 2000" "log_connections = 0" "log_disconnections = 0"
	"log_stats = 0" "max_prepared_statements = 200")
declare -A PORT PID
for who in A B; do
	write_config "$T/pgtide-$who.ini" main "${COMMON[@]}"
	sed -i "s|^logfile = .*|logfile = $T/pgtide-$who-file.log|" "$T/pgtide-$who.ini"
	if [ $who = A ]; then PGTIDE=$A_BIN; else PGTIDE=$B_BIN; fi
	pgtide_start "$T/pgtide-$who.ini"
	PORT[$who]=$PGTIDE_PORT
	PID[$who]=$PGTIDE_PID
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run A|B SCENARIO -> "tps cpu_us_per_xact"
run() {
	local who=$1 sc=$2 kind=${2%%-*} rest=${2#*-} mode=simple clients script=(-S)
	case $kind in
	S) mode=${rest%-*} clients=${rest##*-} ;;
	tpcb) clients=$rest script=() ;;
	*) fail "unknown scenario $sc" ;;
	esac
	local c0 c1 out n tps
	c0=$(cpu_ticks "${PID[$who]}")
	out=$(pgbench -n "${script[@]}" -M "$mode" -c "$clients" -j 2 -T "$SECS" -h 127.0.0.1 -p "${PORT[$who]}" \
		-U postgres app 2>&1)
	c1=$(cpu_ticks "${PID[$who]}")
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
	[ -n "$n" ] && [ "$n" != 0 ] || fail "$who $sc: $(echo "$out" | grep -m1 -i error)"
	echo "$tps $(echo "scale=2; ($c1 - $c0) * 1000000 / $HZ / $n" | bc)"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A R
for r in $(seq "$ROUNDS"); do
	for sc in "${SCENARIOS[@]}"; do
		if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
		for who in $order; do
			R[$who.$sc.$r]=$(run "$who" "$sc")
			echo "# round $r $sc $who: ${R[$who.$sc.$r]}" >&2
		done
	done
done

printf '\n| scenario | TPS A | TPS B | B/A | CPU µs/xact A | CPU µs/xact B | B/A |\n|---|---:|---:|---:|---:|---:|---:|\n'
for sc in "${SCENARIOS[@]}"; do
	declare -a ta=() tb=() ca=() cb=()
	for r in $(seq "$ROUNDS"); do
		ta+=("$(echo "${R[A.$sc.$r]}" | cut -d' ' -f1)") ca+=("$(echo "${R[A.$sc.$r]}" | cut -d' ' -f2)")
		tb+=("$(echo "${R[B.$sc.$r]}" | cut -d' ' -f1)") cb+=("$(echo "${R[B.$sc.$r]}" | cut -d' ' -f2)")
	done
	mta=$(median "${ta[@]}") mtb=$(median "${tb[@]}") mca=$(median "${ca[@]}") mcb=$(median "${cb[@]}")
	printf '| %s | %.0f | %.0f | %s | %s | %s | %s |\n' "$sc" "$mta" "$mtb" "$(echo "scale=2; $mtb / $mta" | bc)" \
		"$mca" "$mcb" "$(echo "scale=2; $mcb / $mca" | bc)"
done
