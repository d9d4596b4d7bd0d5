#!/bin/bash
# Simple and extended protocol, pipelines, COPY both ways, cancel, errors
# and notices, through pgtide in transaction mode with a small pool.
. "$(dirname "$0")/lib.sh"

pg_start main
write_config "$T/pgtide.ini" main "default_pool_size = 2"
pgtide_start "$T/pgtide.ini"
CI="host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app"

assert_eq "simple query" "1|postgres" "$(tsql -c 'select 1, current_user')"
assert_eq "multi-statement query" "3" "$(tsql -c 'select 1; select 2; select 3' | tail -1)"
assert_eq "transaction block" "2" "$(tsql -c 'begin' -c 'create temp table t(x int)' -c 'insert into t values (1),(2)' -c 'select count(*) from t' -c 'commit' | tail -1)"
assert_eq "empty query" "" "$(tsql -c ';')"
"$TESTBIN/pqtool" extended "$CI" 200 || fail "extended protocol"
ok "PQexecParams x200"
"$TESTBIN/pqtool" pipeline "$CI" 50 || fail "pipeline"
ok "libpq pipeline with an error in the middle and a second batch"
"$TESTBIN/pqtool" copy "$CI" 5000 || fail "copy"
ok "COPY FROM STDIN and TO STDOUT, 5000 rows; a failed COPY leaves the connection usable"
"$TESTBIN/pqtool" errors "$CI" || fail "errors"
ok "errors keep the connection usable, 25P02 in an aborted block"
"$TESTBIN/pqtool" cancel "$CI" || fail "cancel"
ok "PQcancel interrupts pg_sleep with 57014"

# large messages both ways (bigger than an I/O buffer)
big=$(tsql -c "select length(repeat('x', 5000000))")
assert_eq "5 MB result row" "5000000" "$big"
printf "select length('%s')" "$(head -c 300000 /dev/zero | tr '\0' 'y')" >"$T/big.sql"
big=$(tsql -f "$T/big.sql")
assert_eq "300 kB query text" "300000" "$big"
rows=$(tsql -c "select count(*) from (select repeat('z', 100) from generate_series(1,200000)) s")
assert_eq "200k rows counted" "200000" "$rows"
n=$(tsql -c "select repeat('z', 100) from generate_series(1,100000)" | wc -l)
assert_eq "100k rows streamed to the client" "100000" "$n"

# notices reach the client
out=$(psql -X -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c "do \$\$ begin raise notice 'note-%', 7; end \$\$" 2>&1)
assert_contains "notice passthrough" "NOTICE:  note-7" "$out"

# SSLRequest is answered 'N' and psql goes on in the clear
assert_eq "sslmode=prefer falls back" "1" "$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app sslmode=prefer" -c 'select 1')"
out=$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app sslmode=require" -c 'select 1' 2>&1)
assert_contains "sslmode=require is refused while TLS is off" "does not support SSL" "$out"

# unix socket listener
assert_eq "unix socket" "1" "$(psql -X -At -h "$T" -p "$PGTIDE_PORT" -U postgres app -c 'select 1')"

# unknown database and startup parameters
out=$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=nope_db" -c 'select 1' 2>&1)
assert_contains "unknown database goes to the * fallback (and Postgres refuses it)" "nope_db" "$out"
# any other setting in options (PGOPTIONS) or the startup packet follows
# the client like a SET; a name no setting can have is refused at login,
# one Postgres does not know fails the first statement, with its SQLSTATE
out=$(PGOPTIONS="-c work_mem=64MB -c search_path=pg_catalog" psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'show work_mem' -c 'show search_path' 2>&1)
assert_eq "settings in options follow the client" "64MB
pg_catalog" "$out"
out=$(PGOPTIONS="-c work\\ mem=64MB" psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'select 1' 2>&1)
assert_contains "a setting name with odd characters is refused at login" "invalid startup parameter name" "$out"
out=$(PGOPTIONS="-c no_such.x=1 -c no_such_setting=1" psql -X -At -v VERBOSITY=verbose "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'select 1' -c 'select 2' 2>&1)
assert_contains "an unknown setting fails the first statement (42704)" "42704" "$out"
assert_contains "... then the session goes on" "2" "$out"

kill -0 "$PGTIDE_PID" || fail "pgtide died"
ok "pgtide still running"
