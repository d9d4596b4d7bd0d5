#!/bin/bash
# The soak: a primary and a streaming replica, pgtide in front with tenants,
# prepared statements and read routing, and tests/soak/soak.py's mixed load
# for SECONDS (default 600); afterwards RSS, open descriptors and counters
# must be back at rest (see soak.py).
#   tests/soak/soak.sh [SECONDS]
# make check runs a short one (tests/soak/t_soak.sh).
SOAK_SECONDS=${1:-${SOAK_SECONDS:-600}}
here=$(cd "$(dirname "$0")" && pwd)
export srcdir=${srcdir:-$(cd "$here/../.." && pwd)}
export builddir=${builddir:-$srcdir/build}
. "$srcdir/tests/integration/lib.sh"

pg_start main
pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE TABLE items (id serial PRIMARY KEY, tenant_id text NOT NULL);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE ROLE soak LOGIN;
CREATE POLICY tenant_rows ON items USING (tenant_id = current_setting('app.current_tenant_id', true));
INSERT INTO items (tenant_id) SELECT 't' || n FROM generate_series(1, 9) n, generate_series(1, n) g;
SQL
replica r1
write_config "$T/pgtide.ini" main "default_pool_size = 8" "max_client_conn = 500" "log_connections = 0" \
	"log_disconnections = 0" "log_stats = 0" "replica_check_period = 1" "idle_transaction_timeout = 3" \
	"query_wait_timeout = 60" "max_bound_servers = 4" \
	"[databases]" "app = host=127.0.0.1 port=$PORT_main dbname=postgres user=soak replicas=127.0.0.1:$PORT_r1"
pgsql main -c "GRANT ALL ON items, soak_copy TO soak" >/dev/null 2>&1
pgsql main >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS soak_copy (a int, b text);
CREATE TABLE IF NOT EXISTS stateful_t (a int);
GRANT ALL ON items, soak_copy, stateful_t TO soak;
GRANT USAGE ON SEQUENCE items_id_seq TO soak;
SQL
pgtide_start "$T/pgtide.ini"
"$PYTHON" "$here/soak.py" "$PGTIDE_PORT" "$PORT_main" "$PGTIDE_PID" "$SOAK_SECONDS" || fail "soak"
kill -0 "$PGTIDE_PID" || fail "pgtide died"
ok "pgtide alive after the soak"
