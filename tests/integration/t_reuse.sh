#!/bin/bash
# A server connection serves transaction after transaction, whatever the
# size or shape of the replies: a warm pool runs results from 12 kB to
# 10 MB, COPY out and in, notices and errors of hundreds of kB, an error in
# the middle of a result, pipelines, prepared statements, replica reads,
# tenant switches, a cancel and a slow reader, and Postgres sees no new
# backend: the same backend pids before and after, and pgtide counts no
# close (SHOW SERVER_CLOSES, pgtide_server_closed_total in /metrics).
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main -c "create database reuse" >/dev/null || fail "create database"
replica r1
METRICS_PORT=$(free_port)
write_config "$T/pgtide.ini" main "default_pool_size = 2" "max_client_conn = 100" \
	"log_connections = 1" "log_disconnections = 1" "replica_check_period = 1" \
	"metrics_port = $METRICS_PORT" "query_wait_timeout = 60" \
	"[databases]" "reuse = host=127.0.0.1 port=$PORT_main dbname=reuse replicas=127.0.0.1:$PORT_r1"
pgtide_start "$T/pgtide.ini"
adm() { psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "$1"; }

backends() { # backends CLUSTER: the pids of client backends in database reuse
	pgsql "$1" -c "select coalesce(string_agg(pid::text, ',' order by pid), '') from pg_stat_activity
		where datname = 'reuse' and backend_type = 'client backend'"
}

# Warm: a replica the checks judge healthy, then both servers of the
# primary's pool and of the replica's.
TDB=reuse tsql -c "select 1" >/dev/null || fail "first client"
for _ in $(seq 100); do
	adm "show replicas" | grep -q "|$PORT_r1|healthy|" && break
	sleep 0.1
done
adm "show replicas" | grep -q "|$PORT_r1|healthy|" || fail "the replica did not become healthy"
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "warm-up"
import sys, threading, psycopg
port = int(sys.argv[1])
def run(ro):
    with psycopg.connect(host="127.0.0.1", port=port, dbname="reuse", user="postgres", autocommit=True) as c:
        if ro:
            c.execute("begin read only"); c.execute("select pg_sleep(0.5)"); c.execute("commit")
        else:
            c.execute("select pg_sleep(0.5)")
ts = [threading.Thread(target=run, args=(ro,)) for ro in (False, False, True, True)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
before_main=$(backends main)
before_r1=$(backends r1)
log "backends before: primary $before_main, replica $before_r1"
# two servers each; the checks borrow the pools' own servers (the
# replica's pool, and the primary's home pool), so no backend more
[ "$(echo "$before_main" | tr ',' '\n' | grep -c .)" = 2 ] || fail "the primary's pool: $before_main, not 2 backends"
[ "$(echo "$before_r1" | tr ',' '\n' | grep -c .)" = 2 ] || fail "the replica's pool: $before_r1, not 2 backends"
# a replica read did go to the replica
assert_eq "a read-only transaction runs on the replica" "t" \
	"$(TDB=reuse tsql -c 'begin read only' -c 'select pg_is_in_recovery()' -c 'commit')"

"$PYTHON" "$srcdir/tests/integration/reply_mix.py" "$PGTIDE_PORT" reuse --threads 3 --rounds 2 --replica ||
	fail "the reply mix through pgtide"
ok "the reply mix: every result as expected (3 clients x 2 rounds)"

# pgbench's extended and prepared protocols, 20 kB per transaction
cat >"$T/list.sql" <<'SQL'
SELECT repeat('x', 1000) FROM generate_series(1, 20);
SQL
for mode in extended prepared; do
	out=$(pgbench -n -c 4 -j 2 -t 100 -M $mode -f "$T/list.sql" -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres reuse 2>&1)
	assert_contains "pgbench -M $mode, 20 kB per transaction" "number of transactions actually processed: 400/400" "$out"
done

after_main=$(backends main)
after_r1=$(backends r1)
assert_eq "the primary's backends are the same ones" "$before_main" "$after_main"
assert_eq "the replica's backends are the same ones" "$before_r1" "$after_r1"
assert_eq "no server was closed (SHOW SERVER_CLOSES)" "" "$(adm "show server_closes")"
metrics=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics") || fail "metrics"
assert_contains "metrics count closes by reason" 'pgtide_server_closed_total{reason="unclean"} 0' "$metrics"
closed=$(echo "$metrics" | awk '/^pgtide_server_closed_total/ { n += $2 } END { print n + 0 }')
assert_eq "no close in /metrics" "0" "$closed"

# The counters can fail: a server_lifetime close is counted, and shows.
psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "set server_lifetime = 1" >/dev/null || fail "SET"
sleep 1.2
TDB=reuse tsql -c "select 1" >/dev/null || fail "query after the lifetime"
for _ in $(seq 50); do adm "show server_closes" | grep -q "^reuse|server_lifetime|" && break; sleep 0.1; done
assert_contains "a server_lifetime close is counted" "reuse|server_lifetime|" "$(adm "show server_closes")"
assert_contains "... and in /metrics" 'pgtide_server_closed_total{reason="server_lifetime"} ' \
	"$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -v ' 0$')"
opened=$(psql -X -q -A -F '|' -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "show stats" |
	awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $1 == "reuse" { print $c["total_server_opened"] }')
[ "$opened" -ge 5 ] || fail "SHOW STATS total_server_opened: $opened"
ok "SHOW STATS counts servers opened ($opened)"
