#!/bin/bash
# Real drivers with their default settings through pgtide in transaction
# mode on a pool smaller than the number of connections: psycopg 3
# (prepared statements, pipelines, COPY, cancel), psycopg2, asyncpg
# (statement cache), pgjdbc (server-side prepares), node-postgres and
# postgres.js (prepare by default). A driver whose runtime is missing is
# skipped, and then the whole test reports SKIP (exit 77) after running
# the others, never PASS; tests/install-deps.sh installs them all.
. "$(dirname "$0")/lib.sh"
D="$srcdir/tests/integration/drivers"
SKIPPED=""

pg_start main
write_config "$T/pgtide.ini" main "default_pool_size = 3" "max_client_conn = 200"
pgtide_start "$T/pgtide.ini"

"$PYTHON" "$D/psycopg3_check.py" "$PGTIDE_PORT" || fail "psycopg 3"
ok "psycopg 3 with its defaults"
"$PYTHON" "$D/psycopg2_check.py" "$PGTIDE_PORT" || fail "psycopg2"
ok "psycopg2 with its defaults"
"$PYTHON" "$D/asyncpg_check.py" "$PGTIDE_PORT" || fail "asyncpg"
ok "asyncpg with its defaults (statement cache on)"

JAR=$(ls /usr/share/java/postgresql.jar 2>/dev/null)
if command -v javac >/dev/null && [ -n "$JAR" ]; then
	mkdir -p "$T/java"
	javac -d "$T/java" -cp "$JAR" "$D/JdbcCheck.java" || fail "javac"
	java -cp "$T/java:$JAR" JdbcCheck "$PGTIDE_PORT" || fail "pgjdbc"
	ok "pgjdbc with its defaults"
else
	SKIPPED+="pgjdbc (no javac or libpostgresql-jdbc-java); "
fi

NODE_MODULES=$(node_modules_dir)
if [ -n "$NODE_MODULES" ]; then
	NODE_PATH="$NODE_MODULES" node "$D/node_check.js" "$PGTIDE_PORT" || fail "node drivers"
	ok "node-postgres and postgres.js with their defaults"
else
	SKIPPED+="node-postgres and postgres.js (no node/npm, or npm could not install pg and postgres); "
fi
kill -0 "$PGTIDE_PID" || fail "pgtide died"
if [ -n "$SKIPPED" ]; then
	echo "SKIP: not run: $SKIPPED"
	exit 77
fi
