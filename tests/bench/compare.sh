#!/bin/bash
# pgtide against PgBouncer on the same machine, in the same run.
#
# Starts a throwaway Postgres (primary + streaming replica), pgtide and
# PgBouncer with equivalent settings (transaction mode, pool of 20, trust),
# then runs each scenario on both poolers alternately (A B A B ...) so that
# drift hits both alike, and prints per scenario: TPS, latency p50/p99 (from
# pgbench --log), and the pooler's own CPU time per transaction (utime +
# stime from /proc/PID/stat over the run), medians over the rounds, with the
# pgtide/PgBouncer ratio.
#
#   tests/bench/compare.sh [SECONDS] [ROUNDS] [SCENARIOS...]
#
# Scenarios: S-simple-1 S-simple-50 S-simple-500 S-extended-1 ...
# S-prepared-{1,50,500} tpcb-50 tenant-50 replica-50 (default: all).
# Needs a built tree (tests/check.sh --quick, or make); installs Debian's
# pgbouncer when it is missing.
set -u
SECS=${1:-10}
ROUNDS=${2:-3}
shift 2 2>/dev/null || shift $#
. "$(dirname "$0")/lib.sh"

bench_need pgbouncer
SCENARIOS=("$@")
if [ ${#SCENARIOS[@]} = 0 ]; then
	SCENARIOS=(S-simple-1 S-simple-50 S-simple-500 S-extended-1 S-extended-50 S-extended-500
		S-prepared-1 S-prepared-50 S-prepared-500 tpcb-50 tenant-50 replica-50)
fi

HZ=$(getconf CLK_TCK)
echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem/{print $2}') GiB"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r); $(pgbouncer --version | head -1); pgtide $("$PGTIDE" --version | cut -d' ' -f2)"
echo "# $SECS s per run, $ROUNDS rounds, pgbench -j 2, pools of 20 servers, transaction mode"

# ---- Postgres: primary + replica ----
pg_start main
as_pg tee -a "$DIR_main/postgresql.conf" >/dev/null <<CONF
max_connections = 300
shared_buffers = 128MB
CONF
as_pg pg_ctl -D "$DIR_main" -l "$T/pg-main.log" -w restart >/dev/null
pgbench -i -s 10 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
PORT_r1=$(free_port)
DIR_r1=$T/pg-r1
as_pg pg_basebackup -D "$DIR_r1" -h 127.0.0.1 -p "$PORT_main" -U postgres -R -X stream -c fast >/dev/null 2>&1 || fail "basebackup"
as_pg sed -i "s/^port = .*/port = $PORT_r1/; s|^unix_socket_directories = .*|unix_socket_directories = '$DIR_r1'|" "$DIR_r1/postgresql.conf"
as_pg pg_ctl -D "$DIR_r1" -l "$T/pg-r1.log" -w start >/dev/null || fail "replica"
CLUSTERS+=("$DIR_r1")

# ---- the poolers ----
COMMON="default_pool_size = 20
max_client_conn = 2000
log_connections = 0
log_disconnections = 0
log_stats = 0"
write_config "$T/pgtide.ini" main "$COMMON" "max_prepared_statements = 200"
sed -i "s|^\\* = .*|ro = host=127.0.0.1 port=$PORT_main dbname=postgres replicas=127.0.0.1:$PORT_r1 read_routing=auto|" "$T/pgtide.ini"
pgtide_start "$T/pgtide.ini"
PT_PORT=$PGTIDE_PORT
PT_PID=$PGTIDE_PID

pgbouncer_start "app = host=127.0.0.1 port=$PORT_main dbname=postgres
ro = host=127.0.0.1 port=$PORT_r1 dbname=postgres" "$COMMON"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run POOLER SCENARIO ROUND -> "tps p50 p99 cpu_us_per_xact" (or "n/a")
run() {
	local who=$1 sc=$2 round=$3 port pid
	if [ "$who" = pgtide ]; then port=$PT_PORT pid=$PT_PID; else port=$PB_PORT pid=$PB_PID; fi
	local kind=${sc%%-*} rest=${sc#*-} mode=simple clients=50 db=app opts="" script=(-S)
	case $kind in
	S) mode=${rest%-*} clients=${rest##*-} ;;
	tpcb) clients=$rest script=() ;;
	tenant) clients=$rest
		[ "$who" = pgtide ] && opts="-c app.current_tenant_id=acme" ;;
	replica) clients=$rest db=ro ;;
	esac
	if [ "$who" = pgbouncer ] && [ "$mode" = prepared ]; then
		echo "n/a" # PgBouncer 1.18 has no prepared statements in transaction mode
		return
	fi
	local logp="$T/log.$who.$sc.$round"
	local t0 c0 out
	c0=$(cpu_ticks "$pid")
	out=$(PGOPTIONS="$opts" pgbench -n "${script[@]}" -M "$mode" -c "$clients" -j 2 -T "$SECS" \
		--log --log-prefix="$logp" -h 127.0.0.1 -p "$port" -U postgres "$db" 2>&1)
	local c1
	c1=$(cpu_ticks "$pid")
	local n tps
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
	if [ -z "$n" ] || [ "$n" = 0 ]; then
		echo "# $who $sc failed: $(echo "$out" | grep -m1 -i error)" >&2
		echo "n/a"
		return
	fi
	local pct
	pct=$(cat "$logp".* | awk '{print $3}' | sort -n |
		awk '{a[NR]=$1} END {i=int(NR*0.5); if (i<1) i=1; j=int(NR*0.99); if (j<1) j=1; printf "%d %d", a[i], a[j]}')
	rm -f "$logp".*
	local cpu_us
	cpu_us=$(echo "scale=2; ($c1 - $c0) * 1000000 / $HZ / $n" | bc)
	echo "$tps $pct $cpu_us"
}

median() { printf '%s\n' "$@" | grep -v '^n/a$' | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
ratio() { if [ "$1" = n/a ] || [ "$2" = n/a ] || [ "$2" = 0 ]; then echo "-"; else echo "scale=2; $1 / $2" | bc; fi; }
col() { # col N values... -> the Nth field of each
	local n=$1
	shift
	for v in "$@"; do
		if [ "$v" = n/a ]; then echo n/a; else echo "$v" | cut -d' ' -f"$n"; fi
	done
}

# direct to Postgres at one client: the latency a pooler adds is measured against this
direct=$(pgbench -n -S -c 1 -T "$SECS" --log --log-prefix="$T/direct" -h 127.0.0.1 -p "$PORT_main" -U postgres postgres 2>&1 >/dev/null;
	cat "$T"/direct.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)]}')
echo "# direct to Postgres, -S, 1 client: p50 latency $direct us"
echo

declare -A R TPS_PGT
for r in $(seq "$ROUNDS"); do
	for sc in "${SCENARIOS[@]}"; do
		# alternate which pooler goes first, round by round
		if [ $((r % 2)) = 1 ]; then order="pgtide pgbouncer"; else order="pgbouncer pgtide"; fi
		for who in $order; do
			R[$who.$sc.$r]=$(run "$who" "$sc" "$r")
			echo "# round $r $sc $who: ${R[$who.$sc.$r]} (tps p50us p99us cpu_us/xact)" >&2
		done
	done
done

printf '\n%-16s | %9s %9s %5s | %7s %7s | %7s %7s | %8s %8s %5s\n' scenario "tps pgt" "tps pgb" ratio \
	"p50 pgt" "p50 pgb" "p99 pgt" "p99 pgb" "cpu pgt" "cpu pgb" ratio
printf '%s\n' "-----------------+---------------------------+-----------------+-----------------+---------------------------"
for sc in "${SCENARIOS[@]}"; do
	a=() b=()
	for r in $(seq "$ROUNDS"); do
		a+=("${R[pgtide.$sc.$r]}")
		b+=("${R[pgbouncer.$sc.$r]}")
	done
	ta=$(median $(col 1 "${a[@]}" | sed 's/\..*//')); tb=$(median $(col 1 "${b[@]}" | sed 's/\..*//'))
	la=$(median $(col 2 "${a[@]}")); lb=$(median $(col 2 "${b[@]}"))
	qa=$(median $(col 3 "${a[@]}")); qb=$(median $(col 3 "${b[@]}"))
	ca=$(median $(col 4 "${a[@]}")); cb=$(median $(col 4 "${b[@]}"))
	printf '%-16s | %9s %9s %5s | %7s %7s | %7s %7s | %8s %8s %5s\n' "$sc" "$ta" "$tb" "$(ratio "$ta" "$tb")" \
		"$la" "$lb" "$qa" "$qb" "$ca" "$cb" "$(ratio "$ca" "$cb")"
	TPS_PGT[$sc]=$ta
done
for n in 1 50 500; do
	if [ -n "${TPS_PGT[S-prepared-$n]:-}" ] && [ -n "${TPS_PGT[S-simple-$n]:-}" ]; then
		echo "# pgtide -M prepared / -M simple at $n clients: $(ratio "${TPS_PGT[S-prepared-$n]}" "${TPS_PGT[S-simple-$n]}")"
	fi
done
echo
echo "# tps: higher is better; p50/p99: transaction latency in us; cpu: the pooler's own CPU us per transaction"
echo "# ratios are pgtide / PgBouncer (tps: want >= 1.1; cpu: want <= 0.7). prepared: PgBouncer 1.18 cannot (n/a)"
echo "# tenant-50: pgtide sets the tenant for every transaction, PgBouncer runs the same load without one"
echo "# replica-50: pgtide routes -S to the replica (read_routing=auto); PgBouncer points at the replica directly"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
