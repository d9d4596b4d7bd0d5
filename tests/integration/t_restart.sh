#!/bin/bash
# Zero-downtime restart and binary upgrade (README "Restarting without
# downtime"): a new pgtide starts on the same port (so_reuseport = 1), the
# old one gets SIGTERM, stops accepting, finishes its clients' transactions
# and exits. pgbench with a connection per transaction (-C) runs across the
# switch and fails nothing; a client in a transaction when the old process
# is told to stop commits it. Twice: the same binary, then another one (a
# binary upgrade is the same steps with the new file).
. "$(dirname "$0")/lib.sh"

# Connections queued on the old listener move to the new one when it
# closes, instead of being reset (Linux 5.14+; per network namespace).
if [ "$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null)" != 1 ]; then
	sysctl -q -w net.ipv4.tcp_migrate_req=1 2>/dev/null ||
		{ echo "SKIP: cannot set net.ipv4.tcp_migrate_req=1 (needed for a restart that drops nothing)"; exit 77; }
fi

pg_start main
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
write_config "$T/p.ini" main "so_reuseport = 1" "default_pool_size = 4" "max_client_conn = 200" "log_connections = 0" \
	"log_disconnections = 0" "shutdown_timeout = 20" "unix_socket_dir ="
cp "$PGTIDE" "$T/pgtide-upgraded"

start_proc() { # start_proc BINARY LOG -> NEWPID
	"$1" "$T/p.ini" >>"$2" 2>&1 &
	NEWPID=$!
	PIDS+=("$NEWPID")
	for _ in $(seq $((100 * VG_SLOW))); do
		grep -q "listening on 127.0.0.1:$PGTIDE_PORT" "$2" 2>/dev/null && return 0
		kill -0 "$NEWPID" 2>/dev/null || { cat "$2" >&2; fail "new pgtide exited"; }
		sleep 0.1
	done
	fail "the new pgtide did not listen"
}

start_proc "$PGTIDE" "$T/pgtide-1.log"
OLD=$NEWPID
for round in 1 2; do
	bin=$PGTIDE
	[ $round = 2 ] && bin=$T/pgtide-upgraded
	pgbench -n -C -S -c 4 -j 2 -T 6 -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app >"$T/pgbench-$round.out" 2>&1 &
	BENCH=$!
	# a client inside a transaction on the old process when it is told to stop
	"$PYTHON" - "$PGTIDE_PORT" <<'PY' >"$T/txn-$round.out" 2>&1 &
import sys, time, psycopg
c = psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=postgres dbname=app")
pid = c.execute("select pg_backend_pid()").fetchone()[0]
c.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (0, 0, 0, 42, now())")
time.sleep(3)   # the old process gets SIGTERM meanwhile
c.commit()
print("committed")
PY
	TXN=$!
	sleep 1.5
	start_proc "$bin" "$T/pgtide-$((round + 1)).log"
	NEW=$NEWPID
	kill -TERM "$OLD"
	wait $TXN || { cat "$T/txn-$round.out"; fail "round $round: a transaction open across SIGTERM"; }
	assert_contains "round $round: the open transaction committed" "committed" "$(cat "$T/txn-$round.out")"
	for _ in $(seq 200); do kill -0 "$OLD" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$OLD" 2>/dev/null && fail "round $round: the old process did not exit"
	wait $BENCH
	out=$(cat "$T/pgbench-$round.out")
	echo "$out" | grep -q "number of failed transactions: 0" || { echo "$out" >&2; fail "round $round: failed transactions"; }
	echo "$out" | grep -q "aborted" && { echo "$out" >&2; fail "round $round: pgbench clients aborted"; }
	ok "round $round ($([ $round = 1 ] && echo restart || echo binary upgrade)): $(echo "$out" | sed -n 's/^number of transactions actually processed: //p') transactions across the switch, none failed"
	OLD=$NEW
done
assert_eq "both inserts committed" "2" "$(pgsql main -d postgres -c 'select count(*) from pgbench_history where delta = 42')"
