#!/bin/bash
# Named prepared statements in transaction mode: pgbench -M prepared with
# many more clients than servers, libpq programs covering every edge
# (reused and unknown names, DEALLOCATE, SQL PREPARE/EXECUTE, DISCARD ALL,
# pipelines, a schema change under a cached plan), LRU eviction, sharing.
. "$(dirname "$0")/lib.sh"

pg_start main
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
P=$PORT_main
write_config "$T/pgtide.ini" main "default_pool_size = 5" "max_client_conn = 300" \
	"log_connections = 0" "log_disconnections = 0" "admin_users = admin" \
	"[databases]" "small = host=127.0.0.1 port=$P dbname=postgres pool_size=1"
pgtide_start "$T/pgtide.ini"
CI="host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app"
adm() { psql -X -q -At -F '|' -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "$1" 2>&1; }

for script in "-S" "-N" ""; do
	out=$(pgbench -n -c 50 -j 2 -t 20 -M prepared $script -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app 2>&1)
	done_=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\)\/.*/\1/p')
	failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	[ "$done_" = 1000 ] || fail "pgbench -M prepared $script did not run all 1000 transactions: $out"
	assert_eq "pgbench -M prepared ${script:-(TPC-B)}, 50 clients on 5 servers: failed" "0" "$failed"
done
n=$(pgsql main -c "select count(*) from pg_stat_activity where datname='postgres' and backend_type='client backend' and pid <> pg_backend_pid()")
[ "$n" -le 5 ] || fail "$n server connections for a pool of 5"

# edge cases, four clients at once (they share statements on the servers)
for i in 1 2 3 4; do
	"$TESTBIN/pqtool" prepflow "$CI" "c$i" >"$T/flow$i.out" 2>&1 &
	eval "F$i=\$!"
done
for i in 1 2 3 4; do
	eval "wait \$F$i" || { cat "$T/flow$i.out"; fail "prepflow $i"; }
done
ok "reuse (42P05), unknown names (26000), DEALLOCATE [ALL], SQL PREPARE/EXECUTE, DISCARD ALL, pipelines, schema change: 4 clients at once"

# identical statements from different clients share one server statement
cparse=$(show_col "show stats" total_client_parse_count database=app)
sparse=$(show_col "show stats" total_server_parse_count database=app)
binds=$(show_col "show stats" total_bind_count database=app)
[ "$cparse" -gt "$sparse" ] || fail "no sharing: client parses $cparse, server parses $sparse"
[ "$binds" -gt 1000 ] || fail "bind count $binds"
ok "statements shared: $cparse client Parses became $sparse server Parses; $binds Binds"

# a statement longer than a connection's output buffer (pkt_buf, 16 kB):
# pgtide's own Parse of it goes out whole, from 2 clients on one server
# (the second finds it prepared and only binds it)
{
	printf 'select length('"'"
	head -c 40000 /dev/zero | tr '\0' x
	printf "'"') + count(*) from pgbench_branches\n'
} >"$T/long.sql"
out=$(pgbench -n -c 2 -j 1 -t 20 -M prepared -f "$T/long.sql" -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres small 2>&1)
done_=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
[ "$done_" = 40 ] || fail "a 40 kB statement prepared through pgtide: $out"
ok "a 40 kB statement prepared through pgtide: 40 of 40 transactions"

# a pool of one server and a limit of 3 statements per server: the LRU
# closes old ones and prepares them again when needed, results stay right
write_config "$T/lru.ini" main "default_pool_size = 1" "max_prepared_statements = 3" "admin_users = admin"
pgtide_start "$T/lru.ini"
CI="host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app"
"$TESTBIN/pqtool" manyprep "$CI" 10 || fail "manyprep"
"$TESTBIN/pqtool" manyprep "$CI" 10 || fail "manyprep 2"
sv=$(show_col "show servers" prepared_statements type=S | sort -n | tail -1)
[ "$sv" -le 3 ] || fail "server holds $sv statements over a limit of 3"
ok "LRU at max_prepared_statements=3: 10 statements round-robin, right results, $sv held"

# DEALLOCATE sent as the unnamed statement of the extended protocol, as
# psycopg does when its statement cache is full (prepared_max): the name is
# the client's, which pgtide maps, so pgtide answers it; with a server
# linked (in a transaction) and without one
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "extended DEALLOCATE"
import sys, psycopg
from psycopg import pq
port = int(sys.argv[1])
conn = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app", autocommit=True)
pg = conn.pgconn
OK, ERR = pq.ExecStatus.COMMAND_OK, pq.ExecStatus.FATAL_ERROR
for in_txn in (False, True):
    if in_txn:
        assert pg.exec_(b"begin").status == OK
    assert pg.prepare(b"s1", b"select 41 + $1::int").status == OK
    r = pg.exec_prepared(b"s1", [b"1"])
    assert r.get_value(0, 0) == b"42", r.error_message
    r = pg.exec_params(b"DEALLOCATE s1", None)
    assert r.status == OK and r.command_status == b"DEALLOCATE", (in_txn, r.status, r.error_message)
    r = pg.exec_prepared(b"s1", None)
    assert r.status == ERR and r.error_field(pq.DiagnosticField.SQLSTATE) == b"26000", r.error_message
    if in_txn:
        assert pg.exec_(b"rollback").status == OK
    r = pg.exec_params(b"deallocate s1", None)
    assert r.status == ERR and r.error_field(pq.DiagnosticField.SQLSTATE) == b"26000", r.error_message
    assert pg.prepare(b"s2", b"select 2").status == OK
    r = pg.exec_params(b"DEALLOCATE ALL", None)
    assert r.status == OK and r.command_status == b"DEALLOCATE ALL", r.error_message
    assert pg.exec_prepared(b"s2", None).status == ERR
# a type dropped and made again under a prepared statement: psycopg clears
# its statements after a DROP and prepares afresh; pgtide's shared copy
# on the server names the old type, and is prepared again transparently
conn2 = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app", prepare_threshold=0)
for rnd in range(2):  # in one transaction, as psycopg's own test does
    conn2.execute("drop table if exists preptable")
    conn2.execute("drop type if exists prepenum")
    conn2.execute("create type prepenum as enum ('foo', 'bar', 'baz')")
    conn2.execute("create table preptable (id integer, bar prepenum[])")
    conn2.cursor().execute("insert into preptable (bar) values (%(e)s::prepenum[])", {"e": ["foo"]})
    assert conn2.execute("select count(*) from preptable").fetchone()[0] == 1, rnd
conn2.rollback()
conn2.close()
# psycopg's own statement cache past prepared_max: evictions DEALLOCATE
conn = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app", autocommit=True,
                       prepare_threshold=0)
conn.prepared_max = 5
for rnd in range(3):
    for i in range(20):
        assert conn.execute(f"select {i} + %s::int", (rnd,)).fetchone()[0] == i + rnd
PY
ok "DEALLOCATE as the unnamed statement (psycopg's statement cache past prepared_max), in and out of a transaction"

# max_prepared_statements = 0: the feature is off, names pass through
write_config "$T/off.ini" main "default_pool_size = 1" "max_prepared_statements = 0" "pool_mode = session"
pgtide_start "$T/off.ini"
"$TESTBIN/pqtool" prepared "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" 20 || fail "session mode pass-through"
ok "session mode: names pass straight through"
