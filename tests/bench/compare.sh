#!/bin/bash
# pgtide against PgBouncer and a 1:1 relay on the same machine, in the same
# run.
#
# Starts a throwaway Postgres (primary + streaming replica), pgtide and
# PgBouncer with equivalent settings (transaction mode, pool of 20, trust)
# and tests/bench/relay (one upstream connection per client, no parsing:
# the floor any proxy's cost is read against), each in a session of its
# own, then runs each scenario on all three alternately (A B C, then the
# next round in another order) so that drift hits them alike, and prints
# per scenario: TPS, latency p50/p99, the proxy's own CPU time per
# transaction (utime + stime from /proc/PID/stat over the run), and the
# backends Postgres started per 1,000 transactions (pg_stat_database's
# sessions over the run): medians over the rounds, with ratios.
#
#   tests/bench/compare.sh [SECONDS] [ROUNDS] [SCENARIOS...]
#
# Scenarios (default: all):
#   S-{simple,extended,prepared}-{1,50,500}   pgbench -S
#   tpcb-50                                   pgbench's TPC-B
#   tenant-50, replica-50                     -S with a tenant; -S routed to the replica
#   rows100B-20, rows20kB-20, rows1MB-4, rows10MB-4
#                                             one result of that size per transaction
#                                             (rows of 1 kB; 100 B: one row), -M extended
#   copyout1MB-4, copyin1MB-4                 one COPY of 1 MB per transaction (copyload)
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
		S-prepared-1 S-prepared-50 S-prepared-500 tpcb-50 tenant-50 replica-50
		rows100B-20 rows20kB-20 rows1MB-4 rows10MB-4 copyout1MB-4 copyin1MB-4)
fi
POOLERS=(pgtide pgbouncer relay)

HZ=$(getconf CLK_TCK)
echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem/{print $2}') GiB"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r); $(pgbouncer --version | head -1); pgtide $("$PGTIDE" --version | cut -d' ' -f2)"
echo "# $SECS s per run, $ROUNDS rounds, pgbench -j 2, pools of 20 servers, transaction mode"

# ---- the load tools ----
bench_tools

# ---- Postgres: primary + replica ----
pg_start main
as_pg tee -a "$DIR_main/postgresql.conf" >/dev/null <<CONF
max_connections = 600
shared_buffers = 128MB
CONF
as_pg pg_ctl -D "$DIR_main" -l "$T/pg-main.log" -w restart >/dev/null
pgbench -i -s 10 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
pgsql main >/dev/null <<'SQL' || fail "copy_sink"
CREATE TABLE copy_sink (v text);
CREATE FUNCTION copy_sink_drop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER copy_sink_drop BEFORE INSERT ON copy_sink FOR EACH ROW EXECUTE FUNCTION copy_sink_drop();
SQL
PORT_r1=$(free_port)
DIR_r1=$T/pg-r1
as_pg pg_basebackup -D "$DIR_r1" -h 127.0.0.1 -p "$PORT_main" -U postgres -R -X stream -c fast >/dev/null 2>&1 || fail "basebackup"
as_pg sed -i "s/^port = .*/port = $PORT_r1/; s|^unix_socket_directories = .*|unix_socket_directories = '$DIR_r1'|" "$DIR_r1/postgresql.conf"
as_pg pg_ctl -D "$DIR_r1" -l "$T/pg-r1.log" -w start >/dev/null || fail "replica"
CLUSTERS+=("$DIR_r1")

# ---- the proxies ----
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

relay_start "$PORT_main"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Backends started in database postgres (this query runs from template1, so
# it counts none); a backend that has exited has flushed its count.
sessions() { sleep 0.3; pgsql main -d template1 -c "select sessions from pg_stat_database where datname = 'postgres'"; }

# Result sizes: one query, rows of 1 kB (100 B: one row of 100 bytes).
for sz in 100B:1:100 20kB:20:1000 1MB:1000:1000 10MB:10000:1000; do
	IFS=: read -r name rows width <<<"$sz"
	echo "SELECT repeat('x', $width) FROM generate_series(1, $rows);" >"$T/rows$name.sql"
done

# run WHO SCENARIO ROUND -> "tps p50 p99 cpu_us_per_xact backends_per_1000" (or "n/a")
run() {
	local who=$1 sc=$2 round=$3 port pid
	case $who in
	pgtide) port=$PT_PORT pid=$PT_PID ;;
	pgbouncer) port=$PB_PORT pid=$PB_PID ;;
	relay) port=$RL_PORT pid=$RL_PID ;;
	esac
	local kind=${sc%%-*} rest=${sc#*-} mode=simple clients=50 db=app opts="" script=(-S) copy=""
	case $kind in
	S) mode=${rest%-*} clients=${rest##*-} ;;
	tpcb) clients=$rest script=() ;;
	tenant) clients=$rest
		[ "$who" = pgtide ] && opts="-c app.current_tenant_id=acme" ;;
	replica) clients=$rest db=ro ;;
	rows*) clients=$rest mode=extended script=(-f "$T/$kind.sql") ;;
	copyout1MB) clients=$rest copy=out ;;
	copyin1MB) clients=$rest copy=in ;;
	esac
	[ "$who" = relay ] && db=postgres
	if [ "$who" = pgbouncer ] && [ "$mode" = prepared ]; then
		echo "n/a" # PgBouncer 1.18 has no prepared statements in transaction mode
		return
	fi
	if [ "$who" = relay ] && { [ "$kind" = replica ] || [ "$clients" -gt 250 ]; }; then
		echo "n/a" # one backend per client: not past max_connections, and no replica
		return
	fi
	local logp="$T/log.$who.$sc.$round"
	local c0 s0 out n tps pct
	s0=$(sessions)
	c0=$(cpu_ticks "$pid")
	if [ -n "$copy" ]; then
		out=$("$BENCH_BIN/copyload" "host=127.0.0.1 port=$port user=postgres dbname=$db" "$copy" 1000 \
			"$clients" "$SECS" 2>&1)
		n=$(echo "$out" | sed -n 's/^transactions \([0-9]*\) .*/\1/p')
		tps=$(echo "$out" | sed -n 's/.* tps \([0-9.]*\) .*/\1/p')
		pct=$(echo "$out" | sed -n 's/.* p50_us \([0-9]*\) p99_us \([0-9]*\).*/\1 \2/p')
	else
		out=$(PGOPTIONS="$opts" pgbench -n "${script[@]}" -M "$mode" -c "$clients" -j 2 -T "$SECS" \
			--log --log-prefix="$logp" -h 127.0.0.1 -p "$port" -U postgres "$db" 2>&1)
		n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
		tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
		pct=$(cat "$logp".* 2>/dev/null | awk '{print $3}' | sort -n |
			awk '{a[NR]=$1} END {i=int(NR*0.5); if (i<1) i=1; j=int(NR*0.99); if (j<1) j=1; printf "%d %d", a[i], a[j]}')
		rm -f "$logp".*
	fi
	local c1 s1
	c1=$(cpu_ticks "$pid")
	s1=$(sessions)
	if [ -z "$n" ] || [ "$n" = 0 ]; then
		echo "# $who $sc failed: $(echo "$out" | grep -m1 -i error)" >&2
		echo "n/a"
		return
	fi
	local cpu_us per1000
	cpu_us=$(echo "scale=2; ($c1 - $c0) * 1000000 / $HZ / $n" | bc)
	per1000=$(echo "scale=2; ($s1 - $s0) * 1000 / $n" | bc)
	echo "$tps $pct $cpu_us $per1000"
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
		# rotate which proxy goes first, round by round
		case $((r % 3)) in
		1) order="pgtide pgbouncer relay" ;;
		2) order="pgbouncer relay pgtide" ;;
		0) order="relay pgtide pgbouncer" ;;
		esac
		for who in $order; do
			R[$who.$sc.$r]=$(run "$who" "$sc" "$r")
			echo "# round $r $sc $who: ${R[$who.$sc.$r]} (tps p50us p99us cpu_us/xact backends/1000xact)" >&2
		done
	done
done

printf '\n%-15s | %8s %8s %8s %5s | %7s %7s %7s | %7s %7s %7s | %7s %7s %7s %5s %5s | %6s %6s\n' scenario \
	"tps pgt" "tps pgb" "tps rl" "t/pgb" "p50 pgt" "p50 pgb" "p50 rl" "p99 pgt" "p99 pgb" "p99 rl" \
	"cpu pgt" "cpu pgb" "cpu rl" "c/pgb" "c/rl" "bk pgt" "bk pgb"
printf '%s\n' "----------------+-------------------------------------+-------------------------+-------------------------+---------------------------------------+--------------"
for sc in "${SCENARIOS[@]}"; do
	declare -A M=()
	for who in "${POOLERS[@]}"; do
		v=()
		for r in $(seq "$ROUNDS"); do v+=("${R[$who.$sc.$r]}"); done
		for k in 1 2 3 4 5; do
			M[$who.$k]=$(median $(col "$k" "${v[@]}"))
		done
		M[$who.1]=${M[$who.1]%%.*}
	done
	printf '%-15s | %8s %8s %8s %5s | %7s %7s %7s | %7s %7s %7s | %7s %7s %7s %5s %5s | %6s %6s\n' "$sc" \
		"${M[pgtide.1]}" "${M[pgbouncer.1]}" "${M[relay.1]}" "$(ratio "${M[pgtide.1]}" "${M[pgbouncer.1]}")" \
		"${M[pgtide.2]}" "${M[pgbouncer.2]}" "${M[relay.2]}" "${M[pgtide.3]}" "${M[pgbouncer.3]}" "${M[relay.3]}" \
		"${M[pgtide.4]}" "${M[pgbouncer.4]}" "${M[relay.4]}" "$(ratio "${M[pgtide.4]}" "${M[pgbouncer.4]}")" \
		"$(ratio "${M[pgtide.4]}" "${M[relay.4]}")" "${M[pgtide.5]}" "${M[pgbouncer.5]}"
	TPS_PGT[$sc]=${M[pgtide.1]}
done
for n in 1 50 500; do
	if [ -n "${TPS_PGT[S-prepared-$n]:-}" ] && [ -n "${TPS_PGT[S-simple-$n]:-}" ]; then
		echo "# pgtide -M prepared / -M simple at $n clients: $(ratio "${TPS_PGT[S-prepared-$n]}" "${TPS_PGT[S-simple-$n]}")"
	fi
done
echo
echo "# pgt: pgtide, pgb: PgBouncer, rl: the 1:1 relay (the floor: one backend per client, no parsing)"
echo "# tps: higher is better; p50/p99: transaction latency in us; cpu: the proxy's own CPU us per transaction"
echo "# t/pgb, c/pgb, c/rl: pgtide's TPS or CPU over PgBouncer's or the relay's"
echo "# bk: backends Postgres started per 1,000 transactions (a warm pool: 0)"
echo "# prepared: PgBouncer 1.18 cannot (n/a); relay: no replica, and not past 250 clients (n/a)"
echo "# tenant-50: pgtide sets the tenant for every transaction; the others run the same load without one"
echo "# replica-50: pgtide routes -S to the replica (read_routing=auto); PgBouncer points at the replica directly"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
