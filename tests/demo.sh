#!/bin/bash
# A local demo: a throwaway Postgres primary and a streaming replica, and
# pgtide in front of them, on 127.0.0.1. Prints how to connect; Ctrl-C
# stops everything and removes the data.
#   tests/demo.sh [PORT]      pgtide listens on PORT (default 6432)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PORT=${1:-6432}

tests/install-deps.sh
if [ ! -x build/src/pgtide ]; then
	echo "== building pgtide"
	[ -x configure ] || autoreconf -fi
	mkdir -p build
	(cd build && "$top/configure" -q && make -s -j"$(nproc)") >/dev/null
fi
PGTIDE=$top/build/src/pgtide
PGBIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export PATH="$PGBIN:$PATH"

D=$(mktemp -d /tmp/pgtide-demo.XXXXXX)
chmod 755 "$D"
if [ "$(id -u)" = 0 ]; then
	chown postgres "$D"
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port)
P2=$(free_port)
MPORT=$(free_port)

cleanup() {
	echo
	echo "== stopping the demo"
	[ -n "${TIDE:-}" ] && kill -INT "$TIDE" 2>/dev/null && wait "$TIDE" 2>/dev/null
	as_pg pg_ctl -D "$D/replica" -m fast stop >/dev/null 2>&1 || true
	as_pg pg_ctl -D "$D/primary" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "== starting a primary on port $P1"
as_pg initdb -D "$D/primary" -U postgres -A trust -E UTF8 >/dev/null
as_pg tee -a "$D/primary/postgresql.conf" >/dev/null <<CONF
port = $P1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$D'
wal_level = replica
max_wal_senders = 5
hot_standby = on
CONF
echo "host replication postgres 127.0.0.1/32 trust" | as_pg tee -a "$D/primary/pg_hba.conf" >/dev/null
as_pg pg_ctl -D "$D/primary" -l "$D/primary.log" -w start >/dev/null

echo "== starting a streaming replica on port $P2"
as_pg pg_basebackup -h 127.0.0.1 -p "$P1" -U postgres -D "$D/replica" -R -X stream >/dev/null
as_pg sed -i "s/^port = $P1/port = $P2/" "$D/replica/postgresql.conf"
as_pg pg_ctl -D "$D/replica" -l "$D/replica.log" -w start >/dev/null

psql -X -q -h 127.0.0.1 -p "$P1" -U postgres postgres <<'SQL'
CREATE TABLE notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE ROLE app LOGIN;
CREATE ROLE acme LOGIN;
GRANT SELECT, INSERT ON notes TO app, acme;
GRANT USAGE ON SEQUENCE notes_id_seq TO app, acme;
CREATE POLICY tenant_isolation ON notes
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
INSERT INTO notes (tenant_id, body) VALUES ('acme', 'acme note'), ('globex', 'globex note');
SQL

cat >"$D/pgtide.ini" <<CONF
[databases]
app = host=127.0.0.1 port=$P1 dbname=postgres replicas=127.0.0.1:$P2
[users]
acme = tenant=acme
[pgtide]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir = $D
auth_type = any
admin_users = postgres
read_routing = explicit
default_pool_size = 5
metrics_port = $MPORT
metrics_top_tenants = 10
CONF

"$PGTIDE" "$D/pgtide.ini" >"$D/pgtide.log" 2>&1 &
TIDE=$!
for _ in $(seq 50); do
	psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres app -c 'select 1' >/dev/null 2>&1 && break
	kill -0 "$TIDE" 2>/dev/null || { cat "$D/pgtide.log"; exit 1; }
	sleep 0.1
done

cat <<EOM

pgtide is running on 127.0.0.1:$PORT (primary :$P1, replica :$P2). Try (a
client with a tenant; a user bound to tenant acme; a read-only transaction,
which runs on the replica; the admin console; the Prometheus metrics):

  psql -h 127.0.0.1 -p $PORT -U postgres app
  PGOPTIONS='-c app.current_tenant_id=acme' psql -h 127.0.0.1 -p $PORT -U app app -c 'table notes'
  psql -h 127.0.0.1 -p $PORT -U acme app -c 'table notes'
  psql -h 127.0.0.1 -p $PORT -U app app -c 'begin read only' -c 'select inet_server_port(), pg_is_in_recovery()' -c 'commit'
  psql -h 127.0.0.1 -p $PORT -U postgres pgtide -c 'SHOW POOLS' -c 'SHOW HOSTS' -c 'SHOW TENANTS'
  curl -s http://127.0.0.1:$MPORT/metrics | grep -E '^pgtide_(host_primary|pool_clients|tenant_transactions)'

Config: $D/pgtide.ini   Log: $D/pgtide.log
Press Ctrl-C to stop and remove everything.
EOM
wait "$TIDE"
