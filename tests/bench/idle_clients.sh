#!/bin/bash
# Idle clients are nearly free: how much memory one idle client costs.
#
#   tests/bench/idle_clients.sh [PROCESSES] [CLIENTS]
#
# Starts a throwaway Postgres and PROCESSES pgtide processes sharing one port
# (so_reuseport = 1; one process when PROCESSES is 1), opens CLIENTS idle
# logged-in clients through them from many 127.x.y.z source addresses
# (tests/bench/idle_opener.py, several opener processes, each under the
# open-file limit), and prints the RSS each pgtide gained per client. With
# the clients held it checks that an active client still gets its usual
# latency, then that clients past max_client_conn get its error (53300), then
# closes the idle ones and shows the memory going back.
# Defaults: 1 process, 19,900 clients (one process's file limit here). The
# 100k run of the issue: tests/bench/idle_clients.sh 6 100000
set -u
PROCS=${1:-1}
CLIENTS=${2:-19900}
. "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
LIMIT=$(ulimit -n)
echo "# machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, open-file limit $LIMIT, load $(cut -d' ' -f1-3 /proc/loadavg)"
PER_PROC=$(((CLIENTS + PROCS - 1) / PROCS))
MAXCONN=$((LIMIT - 60))
[ "$PER_PROC" -le "$MAXCONN" ] || { echo "$CLIENTS clients over $PROCS process(es) exceeds the file limit ($LIMIT)"; exit 1; }

pg_start main
write_config "$T/p.ini" main "max_client_conn = $MAXCONN" "default_pool_size = 5" "so_reuseport = 1" \
	"log_connections = 0" "log_disconnections = 0" "log_stats = 0" "listen_backlog = 4096"
sed -i "s|^unix_socket_dir = .*|unix_socket_dir =|" "$T/p.ini"
PORT=$PGTIDE_PORT
PT=()
for i in $(seq "$PROCS"); do
	pgtide_start "$T/p.ini"
	PT+=("$PGTIDE_PID")
done
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
total_rss() { local s=0; for p in "${PT[@]}"; do s=$((s + $(rss_kb "$p"))); done; echo $s; }
latency() { # p50 and p99 of pgbench -S, 4 clients, 3 s, in us
	pgbench -n -S -c 4 -j 2 -T 3 --log --log-prefix="$T/lat" -h 127.0.0.1 -p "$PORT" -U postgres app >/dev/null 2>&1
	cat "$T"/lat.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "p50 %d us, p99 %d us", a[int(NR*0.5)], a[int(NR*0.99)]}'
	rm -f "$T"/lat.*
}
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1
# warm up: every process has its pool's server parameters and buffers
for _ in $(seq $((PROCS * 4))); do tsql -c "select 1" >/dev/null; done
base_lat=$(latency)
sleep 1
RSS0=$(total_rss)
echo "# $PROCS pgtide process(es) on port $PORT, RSS at rest: $RSS0 KiB in all; active client latency: $base_lat"

# openers: each holds at most ~19,000 sockets; source octets 10, 11, ...
NOPEN=$(((CLIENTS + 18999) / 19000))
PER_OPEN=$(((CLIENTS + NOPEN - 1) / NOPEN))
t0=$(date +%s.%N)
OP=()
for i in $(seq "$NOPEN"); do
	n=$PER_OPEN
	[ $((i * PER_OPEN)) -gt "$CLIENTS" ] && n=$((CLIENTS - (i - 1) * PER_OPEN))
	"$PYTHON" "$top/tests/bench/idle_opener.py" "$PORT" "$n" $((9 + i)) >"$T/open.$i" 2>&1 &
	OP+=($!)
	PIDS+=($!)
done
for i in $(seq "$NOPEN"); do
	for _ in $(seq 600); do grep -q '^ready' "$T/open.$i" && break; sleep 0.2; done
done
t1=$(date +%s.%N)
ready=$(cat "$T"/open.* | awk '/^ready/{s+=$2} END {print s+0}')
refused=$(cat "$T"/open.* | awk '/^ready/{s+=$4} END {print s+0}')
sleep 2
RSS1=$(total_rss)
per=$(echo "scale=3; ($RSS1 - $RSS0) * 1024 / $ready" | bc)
echo "# opened $ready idle clients ($refused refused) in $(echo "$t1 - $t0" | bc | cut -c1-5) s"
for p in "${PT[@]}"; do
	echo "#   pgtide pid $p: $(ls /proc/$p/fd | wc -l) fds, RSS $(rss_kb "$p") KiB"
done
echo "idle clients: $ready; RSS $RSS0 -> $RSS1 KiB: $per bytes per idle client ($(echo "scale=3; $per / 1024" | bc) KiB)"
echo "active client latency with them held: $(latency) (at rest: $base_lat)"

# past max_client_conn: refused with its error, the others unharmed
if [ "$PROCS" = 1 ]; then
	more=$((MAXCONN - ready + 20))
	extra=$("$PYTHON" - "$PORT" "$more" <<'PY'
import socket, struct, sys
body = struct.pack("!I", 196608) + b"user\0postgres\0database\0app\0\0"
codes, held = {}, []
for i in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    try:
        data = s.recv(4096)
    except OSError as e:
        data = b""
    code = "ok" if b"Z" in data[-6:] else (data.split(b"\0C", 1)[1][:5].decode() if b"\0C" in data else "closed")
    codes[code] = codes.get(code, 0) + 1
    held.append(s)
print(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
PY
)
	echo "$more more clients, filling max_client_conn ($MAXCONN) and 20 past it: $extra"
	cpu0=$(awk '{print $14+$15}' "/proc/${PT[0]}/stat")
	sleep 3
	cpu1=$(awk '{print $14+$15}' "/proc/${PT[0]}/stat")
	echo "pgtide CPU while full and idle: $(((cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) / 3)) ms/s"
fi

# let them go; memory goes back
kill -TERM "${OP[@]}"
for p in "${OP[@]}"; do wait "$p" 2>/dev/null; done
sleep 3
RSS2=$(total_rss)
echo "after the idle clients left: RSS $RSS2 KiB (at rest $RSS0, with them $RSS1)"
echo "active client latency after: $(latency)"

# at the open-file limit itself (max_client_conn above it): refused with an
# error, no busy loop, and the clients already in are still served
if [ "$PROCS" = 1 ]; then
	write_config "$T/small.ini" main "max_client_conn = 5000" "log_connections = 0" "log_disconnections = 0"
	sed -i "s|^unix_socket_dir = .*|unix_socket_dir =|" "$T/small.ini"
	(ulimit -n 1000; exec "$PGTIDE" "$T/small.ini" >>"$T/small.log" 2>&1) &
	SP=$!
	PIDS+=("$SP")
	for _ in $(seq 50); do tsql -c "select 1" >/dev/null 2>&1 && break; sleep 0.1; done
	psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c "select pg_sleep(4)" -c "select 'still served'" >"$T/alive" 2>&1 &
	AP=$!
	sleep 0.5
	"$PYTHON" "$top/tests/bench/idle_opener.py" "$PGTIDE_PORT" 1200 30 >"$T/open.small" 2>&1 &
	OPS=$!
	for _ in $(seq 100); do grep -q '^ready' "$T/open.small" && break; sleep 0.2; done
	c0=$(awk '{print $14+$15}' "/proc/$SP/stat")
	sleep 3
	c1=$(awk '{print $14+$15}' "/proc/$SP/stat")
	wait "$AP"
	echo "file limit 1000, 1200 more clients: $(cat "$T/open.small"); CPU while full $(((c1 - c0) * 1000 / $(getconf CLK_TCK) / 3)) ms/s;" \
		"a client logged in before: $(tail -1 "$T/alive"); pgtide $(kill -0 "$SP" 2>/dev/null && echo running || echo DEAD)"
	kill -TERM "$OPS"
fi
