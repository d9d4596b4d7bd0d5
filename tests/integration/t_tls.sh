#!/bin/bash
# TLS on both sides and the rest of authentication: certificates made here
# with the openssl CLI; a Postgres that requires TLS and SCRAM; psql with
# sslmode=verify-full and channel binding through pgtide with nothing but
# SCRAM secrets on the pooler side; wrong CAs and host names refused; client
# certificates; SASLprep; auth_query against the real pg_authid; every
# auth_hba_file rule kind; wrong passwords; certificates re-read on reload.
. "$(dirname "$0")/lib.sh"

# ---- certificates ----
C=$T/certs
mkdir -p "$C"
mkcert() { # mkcert NAME CN SIGNER [SAN]: key + cert signed by SIGNER's CA
	local name=$1 cn=$2 signer=$3 san=${4:-}
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$C/$name.key" -out "$C/$name.csr" 2>/dev/null
	local ext="$C/$name.ext"
	: >"$ext"
	[ -n "$san" ] && echo "subjectAltName=$san" >"$ext"
	openssl x509 -req -in "$C/$name.csr" -CA "$C/$signer.crt" -CAkey "$C/$signer.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$ext" -out "$C/$name.crt" 2>/dev/null || fail "sign $name"
}
for ca in ca ca2; do
	openssl req -x509 -new -newkey rsa:2048 -nodes -subj "/CN=pgtide test $ca" -days 2 \
		-keyout "$C/$ca.key" -out "$C/$ca.crt" 2>/dev/null || fail "make $ca"
done
mkcert server localhost ca "DNS:localhost"      # no IP in it: 127.0.0.1 is the wrong host name
mkcert server2 localhost ca2 "DNS:localhost"    # same name, other CA (for reload)
mkcert alice alice ca
mkcert pgcert postgres ca                       # for hba "cert" as a user Postgres trusts
mkcert mallory alice ca2                        # right name, untrusted CA
chmod 600 "$C"/*.key
chmod 755 "$C"
[ "$(id -u)" = 0 ] && chown -R postgres "$C"
chmod 644 "$C"/*.crt

# ---- a Postgres that insists on TLS and SCRAM ----
pg_start main
as_pg tee -a "$DIR_main/postgresql.conf" >/dev/null <<CONF
ssl = on
ssl_cert_file = '$C/server.crt'
ssl_key_file = '$C/server.key'
password_encryption = 'scram-sha-256'
CONF
as_pg tee "$DIR_main/pg_hba.conf" >/dev/null <<HBA
local all all trust
hostssl all postgres 127.0.0.1/32 trust
hostssl all all 127.0.0.1/32 scram-sha-256
HBA
as_pg pg_ctl -D "$DIR_main" -l "$T/pg-main.log" -w restart >/dev/null || fail "restart with ssl"
pgsql main -c "create role scram_user login password 'scram-pw'" \
	-c "create role alice login password 'alice-pw'" \
	-c "create role sasl_user login password 'p@ss\u{2168}'" \
	-c "create role query_user login password 'query-pw'" \
	-c "create role dbname_user login password 'dbname-pw'" \
	-c "create role nossl_user login password 'x'" || fail "roles"
# psql does not expand \u: set the SASLprep password from Python instead
"$PYTHON" - "$PORT_main" <<'PY' || fail "sasl role"
import sys, psycopg
with psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres",
                     autocommit=True) as c:
    # U+2168 ROMAN NUMERAL NINE; SASLprep (NFKC) makes it "IX"
    c.execute("alter role sasl_user password 'p@ss\u2168'")
PY
secret() { pgsql main -c "select rolpassword from pg_authid where rolname='$1'"; }
cat >"$T/users.txt" <<USERS
"scram_user" "$(secret scram_user)"
"alice" "$(secret alice)"
"sasl_user" "$(secret sasl_user)"
"postgres" ""
"admin" "admin-pw"
USERS
grep -q 'SCRAM-SHA-256\$' "$T/users.txt" || fail "no SCRAM secrets"
grep -v -e '^"postgres"' -e '^"admin"' "$T/users.txt" | grep -qv 'SCRAM-SHA-256\$' && fail "a non-SCRAM secret in users.txt"

tls_config() { # tls_config FILE CLIENT_MODE SERVER_MODE [extra lines]
	local f=$1 cm=$2 sm=$3
	shift 3
	write_config "$f" main "auth_file = $T/users.txt" \
		"client_tls_sslmode = $cm" "client_tls_cert_file = $C/server.crt" "client_tls_key_file = $C/server.key" \
		"client_tls_ca_file = $C/ca.crt" \
		"server_tls_sslmode = $sm" "server_tls_ca_file = $C/ca.crt" "$@"
	sed -i -e 's/^auth_type = trust$//' -e "s/host=127.0.0.1 port=$PORT_main/host=localhost port=$PORT_main/" "$f"
	grep -q '^auth_type' "$f" || echo "auth_type = scram-sha-256" >>"$f"
}
stop_pgtide() { kill -INT "$PGTIDE_PID" 2>/dev/null; wait "$PGTIDE_PID" 2>/dev/null; }

# psql through pgtide with a conninfo tail; prints the result or the error
tconn() { # tconn PASSWORD "conninfo..." [sql]
	PGPASSWORD="$1" psql -X -At "port=$PGTIDE_PORT dbname=app $2" -c "${3:-select current_user}" 2>&1
}
VF="host=localhost sslmode=verify-full sslrootcert=$C/ca.crt"

# ---- the issue's "done when": verify-full + channel binding, both sides TLS ----
tls_config "$T/p1.ini" require verify-full
pgtide_start "$T/p1.ini" -v
assert_eq "verify-full + channel_binding=require through pgtide" "scram_user" \
	"$(tconn scram-pw "$VF user=scram_user channel_binding=require")"
assert_contains "client side: channel binding used" "SCRAM login with channel binding" "$(cat "$T/pgtide.log")"
assert_contains "server side: channel binding used" "logging in with SCRAM-SHA-256-PLUS" "$(cat "$T/pgtide.log")"
# the server connection pgtide made is TLS too (Postgres's own view)
assert_eq "server side is TLS" "t" \
	"$(tconn scram-pw "$VF user=scram_user" "select ssl from pg_stat_ssl where pid = pg_backend_pid()")"
assert_eq "SCRAM without channel binding" "scram_user" \
	"$(tconn scram-pw "$VF user=scram_user channel_binding=disable")"
out=$(tconn wrong "$VF user=scram_user channel_binding=require")
assert_contains "wrong password over TLS" 'password authentication failed for user "scram_user"' "$out"
out=$(tconn x "$VF user=nobody channel_binding=require")
assert_contains "unknown user, same words" 'password authentication failed for user "nobody"' "$out"
out=$(tconn scram-pw "host=localhost sslmode=verify-full sslrootcert=$C/ca2.crt user=scram_user")
assert_contains "wrong CA refused by the client" 'certificate verify failed' "$out"
out=$(tconn scram-pw "host=127.0.0.1 sslmode=verify-full sslrootcert=$C/ca.crt user=scram_user")
assert_contains "wrong host name refused by the client" 'does not match host name' "$out"
out=$(tconn scram-pw "host=127.0.0.1 sslmode=disable user=scram_user")
assert_contains "plain TCP refused under require" 'SSL required' "$out"
# unix sockets are not TCP: no TLS there, as in Postgres
assert_eq "unix socket under require" "scram_user" "$(tconn scram-pw "host=$T user=scram_user")"
# SASLprep: the password as typed and its normalized form both work
assert_eq "SASLprep: password with U+2168" "sasl_user" \
	"$(tconn "p@ssⅨ" "$VF user=sasl_user channel_binding=require")"
assert_eq "SASLprep: normalized form" "sasl_user" "$(tconn "p@ssIX" "$VF user=sasl_user")"

# psycopg 3 and asyncpg over TLS with their defaults for channel binding
"$PYTHON" - "$PGTIDE_PORT" "$C/ca.crt" <<'PY' || fail "drivers over TLS"
import sys, asyncio, psycopg, asyncpg, ssl
port, ca = int(sys.argv[1]), sys.argv[2]
with psycopg.connect(host="localhost", port=port, user="scram_user", password="scram-pw", dbname="app",
                     sslmode="verify-full", sslrootcert=ca, channel_binding="require") as c:
    assert c.execute("select 1+1").fetchone()[0] == 2
    with c.cursor() as cur:
        cur.execute("select repeat('x', 1000000)")   # a big row through both TLS legs
        assert len(cur.fetchone()[0]) == 1000000
    with c.cursor().copy("copy (select g from generate_series(1,50000) g) to stdout") as cp:
        n = sum(1 for _ in cp.rows())
    assert n == 50000, n
async def main():
    ctx = ssl.create_default_context(cafile=ca)
    conn = await asyncpg.connect(host="localhost", port=port, user="scram_user", password="scram-pw",
                                 database="app", ssl=ctx)
    assert await conn.fetchval("select 40+2") == 42
    await conn.close()
asyncio.run(main())
print("drivers ok")
PY
ok "psycopg 3 (1 MB row, COPY) and asyncpg over TLS"

# the other drivers over TLS with their defaults (and SCRAM)
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "psycopg2 over TLS"
import sys, psycopg2
c = psycopg2.connect(host="localhost", port=int(sys.argv[1]), user="scram_user", password="scram-pw", dbname="app",
                     sslmode="require")
cur = c.cursor()
cur.execute("select %s::int + 1", (41,))
assert cur.fetchone()[0] == 42
PY
ok "psycopg2 over TLS"
NODE_MODULES=$(node_modules_dir)
if [ -n "$NODE_MODULES" ]; then
	cat >"$T/tls.js" <<JS
const { Client } = require('pg'); const postgres = require('postgres');
(async () => {
  const c = new Client({ host: 'localhost', port: $PGTIDE_PORT, user: 'scram_user', password: 'scram-pw', database: 'app',
                         ssl: { ca: require('fs').readFileSync('$C/ca.crt') } });
  await c.connect();
  const r = await c.query('select \$1::int + 1 as x', [41]);
  if (r.rows[0].x !== 42) throw new Error('node-postgres: ' + JSON.stringify(r.rows));
  await c.end();
  const sql = postgres({ host: 'localhost', port: $PGTIDE_PORT, user: 'scram_user', pass: 'scram-pw', database: 'app',
                         ssl: { ca: require('fs').readFileSync('$C/ca.crt') } });
  const rows = await sql\`select \${41}::int + 1 as x\`;
  if (rows[0].x !== 42) throw new Error('postgres.js: ' + JSON.stringify(rows));
  await sql.end();
})().catch(e => { console.error(e); process.exit(1); });
JS
	NODE_PATH="$NODE_MODULES" node "$T/tls.js" || fail "node drivers over TLS"
	ok "node-postgres and postgres.js over TLS (certificate checked)"
else
	echo "# node drivers over TLS skipped: no node/npm" >&2
fi
JAR=$(ls /usr/share/java/postgresql.jar 2>/dev/null)
if command -v javac >/dev/null && [ -n "$JAR" ]; then
	mkdir -p "$T/java"
	cat >"$T/java/TlsCheck.java" <<JAVA
import java.sql.*;
public class TlsCheck {
  public static void main(String[] a) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://localhost:" + a[0] + "/app?sslmode=require", "scram_user", "scram-pw")) {
      PreparedStatement ps = c.prepareStatement("select ?::int + 1");
      for (int i = 0; i < 10; i++) {   // past prepareThreshold: server-side prepares over TLS
        ps.setInt(1, 41);
        ResultSet r = ps.executeQuery();
        r.next();
        if (r.getInt(1) != 42) throw new Exception("wrong answer");
      }
    }
  }
}
JAVA
	javac -d "$T/java" -cp "$JAR" "$T/java/TlsCheck.java" && java -cp "$T/java:$JAR" TlsCheck "$PGTIDE_PORT" || fail "pgjdbc over TLS"
	ok "pgjdbc over TLS"
else
	echo "# pgjdbc over TLS skipped: no javac or libpostgresql-jdbc-java" >&2
fi

# pgbench over TLS on both legs: many clients, few servers, no failure
as_pg pgbench -i -q -s 1 -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
pgsql main -d postgres -c "grant select, update, insert on all tables in schema public to scram_user"
for mode in simple prepared; do
	out=$(PGPASSWORD=scram-pw PGSSLMODE=verify-full PGSSLROOTCERT=$C/ca.crt pgbench -n -h localhost -p "$PGTIDE_PORT" \
		-U scram_user -c 20 -j 2 -t 10 -M $mode app 2>&1)
	fails=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	done_n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\)\/.*/\1/p')
	# a fixed count: these machines differ in speed, under valgrind most of all
	[ "${fails:-0}" = 0 ] && [ "${done_n:-0}" = 200 ] || { echo "$out" >&2; fail "pgbench -M $mode over TLS"; }
	ok "pgbench TPC-B -M $mode, 20 clients over TLS both sides: $done_n transactions, 0 failed"
done

# hostile: bytes sent in the clear right behind the SSLRequest
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "unencrypted data after SSLRequest"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
startup = struct.pack("!ii", 8, 80877103) + struct.pack("!ii", 9, 196608) + b"\0"
s.sendall(startup)
data = s.recv(1000)
assert data[:1] == b"E" and b"08P01" in data and b"unencrypted data after SSL request" in data, data
PY
ok "unencrypted bytes after SSLRequest refused with 08P01"
stop_pgtide

# ---- pgtide -> Postgres checks ----
tls_config "$T/p2.ini" prefer verify-full "query_wait_timeout = 2"
sed -i "s/host=localhost port=$PORT_main/host=127.0.0.1 port=$PORT_main/" "$T/p2.ini"
pgtide_start "$T/p2.ini"
out=$(tconn scram-pw "host=127.0.0.1 user=scram_user")
assert_contains "server certificate for the wrong host name refused" 'TLS handshake with the server failed' "$out"
assert_contains "... with the SQLSTATE for a lost connection" 'certificate verify failed' "$(cat "$T/pgtide.log")"
stop_pgtide
tls_config "$T/p3.ini" prefer verify-ca "server_tls_ca_file = $C/ca2.crt" "query_wait_timeout = 2"
pgtide_start "$T/p3.ini"
out=$(tconn scram-pw "host=127.0.0.1 user=scram_user")
assert_contains "server certificate from the wrong CA refused" 'TLS handshake with the server failed' "$out"
stop_pgtide
tls_config "$T/p4.ini" prefer disable
pgtide_start "$T/p4.ini"
out=$(tconn scram-pw "host=127.0.0.1 user=scram_user")
assert_contains "server_tls_sslmode=disable against a TLS-only Postgres" 'no encryption' "$out"
stop_pgtide

# ---- client certificates ----
tls_config "$T/p5.ini" verify-full verify-full
pgtide_start "$T/p5.ini"
assert_eq "verify-full: certificate CN = user" "alice" \
	"$(tconn alice-pw "$VF user=alice sslcert=$C/alice.crt sslkey=$C/alice.key")"
out=$(tconn alice-pw "$VF user=alice")
assert_contains "verify-full: no client certificate" 'certificate' "$out"
out=$(tconn scram-pw "$VF user=scram_user sslcert=$C/alice.crt sslkey=$C/alice.key")
assert_contains "verify-full: CN names another user" 'certificate authentication failed for user "scram_user"' "$out"
out=$(tconn alice-pw "$VF user=alice sslcert=$C/mallory.crt sslkey=$C/mallory.key")
assert_contains "client certificate from an untrusted CA" 'SSL' "$out"
kill -0 "$PGTIDE_PID" || fail "pgtide died"
stop_pgtide

# ---- certificates re-read on reload ----
tls_config "$T/p6.ini" require verify-full
pgtide_start "$T/p6.ini"
assert_eq "before reload: CA 1" "scram_user" "$(tconn scram-pw "$VF user=scram_user")"
sed -i -e "s|^client_tls_cert_file = .*|client_tls_cert_file = $C/server2.crt|" \
	-e "s|^client_tls_key_file = .*|client_tls_key_file = $C/server2.key|" "$T/p6.ini"
kill -HUP "$PGTIDE_PID"
pgtide_wait_log "configuration reloaded"
assert_eq "after reload: the new certificate (CA 2)" "scram_user" \
	"$(tconn scram-pw "host=localhost sslmode=verify-full sslrootcert=$C/ca2.crt user=scram_user")"
sed -i "s|^client_tls_cert_file = .*|client_tls_cert_file = $C/missing.crt|" "$T/p6.ini"
kill -HUP "$PGTIDE_PID"
pgtide_wait_log "reload failed"
assert_eq "a broken certificate path keeps the running TLS" "scram_user" \
	"$(tconn scram-pw "host=localhost sslmode=verify-full sslrootcert=$C/ca2.crt user=scram_user")"
stop_pgtide
"$PGTIDE" --check "$T/p6.ini" >"$T/check.out" 2>&1 && fail "--check accepted a missing certificate"
assert_contains "--check names the certificate file" "missing.crt" "$(cat "$T/check.out")"

# ---- auth_query: secrets from the real pg_authid, nothing on the pooler ----
pgsql main -c "create role lookup login password 'lookup-pw'" \
	-c "create function public.pgtide_lookup(p_user text, out uname text, out phash text) returns record
	    language sql security definer set search_path = pg_catalog
	    as \$\$ select usename::text, passwd::text from pg_shadow where usename = p_user \$\$" \
	-c "revoke all on function public.pgtide_lookup(text) from public" \
	-c "grant execute on function public.pgtide_lookup(text) to lookup" \
	-c "create role nopw_user login" || fail "lookup function"
echo '"lookup" "lookup-pw"' >>"$T/users.txt"
tls_config "$T/p7.ini" prefer verify-full "auth_user = postgres"
# app: a least-privilege auth_user and its own query; everything else: the
# global auth_user (a superuser here) with PgBouncer's default query
sed -i "s|^app = .*|app = host=localhost port=$PORT_main dbname=postgres auth_user=lookup auth_query='SELECT uname, phash FROM public.pgtide_lookup(\$1)'|" "$T/p7.ini"
# auth_dbname: template1 has no lookup function; its lines look secrets up
# in app's database (postgres), or name a database that is not there
LQ="auth_user=lookup auth_query='SELECT uname, phash FROM public.pgtide_lookup(\$1)'"
sed -i "/^app = /a nolookup = host=localhost port=$PORT_main dbname=template1 $LQ\\
lookupdb = host=localhost port=$PORT_main dbname=template1 auth_dbname=app $LQ\\
badauth = host=localhost port=$PORT_main dbname=template1 auth_dbname=nosuchdb $LQ" "$T/p7.ini"
pgtide_start "$T/p7.ini"
assert_contains "without auth_dbname the lookup runs in the client's database (no function there)" \
	'could not look up the password for user "dbname_user"' "$(tconn dbname-pw "$VF user=dbname_user dbname=nolookup")"
assert_eq "auth_dbname: the lookup runs in the database it names" "dbname_user@template1" \
	"$(tconn dbname-pw "$VF user=dbname_user dbname=lookupdb" "select current_user || '@' || current_database()")"
assert_contains "auth_dbname naming no database: a config error, named" \
	'bouncer config error: authentication database "nosuchdb" is not configured' \
	"$(tconn x "$VF user=ghost dbname=badauth")"
assert_contains "... and logged" 'authentication database "nosuchdb" is not configured (auth_dbname)' "$(cat "$T/pgtide.log")"
PGPASSWORD=admin-pw psql -X -q "host=$T port=$PGTIDE_PORT dbname=pgtide user=admin" -c "disable app" >/dev/null || fail "disable app"
assert_contains "auth_dbname naming a disabled database" 'authentication database "app" is disabled' \
	"$(tconn x "$VF user=ghost dbname=lookupdb")"
PGPASSWORD=admin-pw psql -X -q "host=$T port=$PGTIDE_PORT dbname=pgtide user=admin" -c "enable app" >/dev/null || fail "enable app"
assert_eq "auth_query (per database, security definer function)" "query_user" \
	"$(tconn query-pw "$VF user=query_user channel_binding=require")"
assert_eq "auth_query (global auth_user, default query)" "query_user" \
	"$(PGPASSWORD=query-pw psql -X -At "port=$PGTIDE_PORT dbname=postgres $VF user=query_user" -c "select current_database() || ':' || current_user" 2>&1 | sed 's/^postgres://')"
out=$(tconn wrong "$VF user=query_user")
assert_contains "auth_query: wrong password" 'password authentication failed for user "query_user"' "$out"
out=$(tconn x "$VF user=ghost")
assert_contains "auth_query: unknown user, same words" 'password authentication failed for user "ghost"' "$out"
out=$(tconn x "$VF user=nopw_user")
assert_contains "auth_query: role without a password" 'password authentication failed for user "nopw_user"' "$out"
# concurrent first logins share one lookup and all get in
pids=()
for i in $(seq 8); do
	tconn query-pw "$VF user=query_user" >"$T/par.$i" &
	pids+=($!)
done
wait "${pids[@]}"
assert_eq "8 concurrent auth_query logins" "8" "$(cat "$T"/par.* | grep -c '^query_user$')"
# a changed password: the cached answer goes on reload
pgsql main -c "alter role query_user password 'query-pw2'"
kill -HUP "$PGTIDE_PID"
pgtide_wait_log "configuration reloaded"
assert_eq "auth_query after a password change and reload" "query_user" "$(tconn query-pw2 "$VF user=query_user")"
stop_pgtide

# ---- auth_type = hba: every rule kind ----
cat >"$T/hba.conf" <<'HBA'
# TYPE    DATABASE  USER        ADDRESS               METHOD
local     all       all                               trust
hostnossl all       nossl_user  127.0.0.1/32          reject
hostssl   app       postgres    127.0.0.1/32          cert
host      all       sasl_user   127.0.0.1/32          password
host      all       scram_user  ::1/128               trust
host      "app"     scram_user  127.0.0.0 255.0.0.0   scram-sha-256
host      app,other plain_user  all                   md5
HBA
echo '"plain_user" "plain-pw"' >>"$T/users.txt"
pgsql main -c "create role plain_user login password 'plain-pw'" || fail "plain_user"
tls_config "$T/p8.ini" prefer verify-full "auth_hba_file = $T/hba.conf"
sed -i 's/^auth_type = .*/auth_type = hba/' "$T/p8.ini"
pgtide_start "$T/p8.ini"
assert_eq "hba local trust (unix socket)" "postgres" "$(tconn x "host=$T user=postgres")"
out=$(tconn x "host=127.0.0.1 sslmode=disable user=nossl_user")
assert_contains "hba hostnossl reject" 'pg_hba.conf rejects connection for host "127.0.0.1", user "nossl_user", database "app", no encryption' "$out"
out=$(tconn x "$VF user=nossl_user")
assert_contains "hba: no line for TLS nossl_user" 'no pg_hba.conf entry for host "127.0.0.1", user "nossl_user", database "app", SSL encryption' "$out"
# the console shows each side's TLS in PgBouncer's "tls" column
tconn scram-pw "$VF user=scram_user" "select pg_sleep(1.5)" >/dev/null &
bg=$!
sleep 0.7
tlscol=$(ADMIN_CONN="host=$T port=$PGTIDE_PORT dbname=pgtide user=admin" show_col "show clients" tls user=scram_user)
assert_contains "SHOW CLIENTS tls column" "TLSv1.3/" "$tlscol"
tlscol=$(ADMIN_CONN="host=$T port=$PGTIDE_PORT dbname=pgtide user=admin" show_col "show servers" tls user=scram_user)
assert_contains "SHOW SERVERS tls column" "TLSv1.3/" "$tlscol"
wait $bg
assert_eq "hba hostssl cert" "postgres" "$(tconn x "$VF user=postgres sslcert=$C/pgcert.crt sslkey=$C/pgcert.key")"
out=$(tconn x "$VF user=postgres")
assert_contains "hba cert without a certificate" 'certificate authentication failed for user "postgres"' "$out"
out=$(tconn x "$VF user=postgres sslcert=$C/alice.crt sslkey=$C/alice.key")
assert_contains "hba cert: certificate for another user" 'certificate authentication failed for user "postgres"' "$out"
out=$(tconn x "host=127.0.0.1 sslmode=disable user=postgres")
assert_contains "hba hostssl does not match plain TCP" 'no pg_hba.conf entry' "$out"
# password: the cleartext is SASLprep'ed before it is checked against the SCRAM secret
assert_eq "hba password + SASLprep (U+2168 against a SCRAM secret)" "sasl_user" "$(tconn "p@ssⅨ" "$VF user=sasl_user")"
out=$(tconn "p@ss9" "$VF user=sasl_user")
assert_contains "hba password: wrong" 'password authentication failed for user "sasl_user"' "$out"
assert_eq "hba scram-sha-256 (address + separate mask, quoted db)" "scram_user" \
	"$(tconn scram-pw "$VF user=scram_user channel_binding=require")"
assert_eq "hba md5 (database list, all addresses)" "plain_user" "$(tconn plain-pw "host=127.0.0.1 sslmode=disable user=plain_user")"
out=$(tconn wrong "host=127.0.0.1 sslmode=disable user=plain_user")
assert_contains "hba md5: wrong password" 'password authentication failed for user "plain_user"' "$out"
out=$(tconn x "$VF user=stranger")
assert_contains "hba: no matching line" 'no pg_hba.conf entry for host "127.0.0.1", user "stranger", database "app", SSL encryption' "$out"
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "28000 over the wire"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = struct.pack("!I", 196608) + b"user\0nossl_user\0database\0app\0\0"
s.sendall(struct.pack("!I", len(body) + 4) + body)
data = s.recv(4096)
assert data[:1] == b"E" and b"C28000\0" in data, data
PY
ok "hba reject is SQLSTATE 28000"
# a broken line on reload: FILE:LINE, and the running rules stay
echo 'host all all 10.0.0.0/33 md5' >>"$T/hba.conf"
kill -HUP "$PGTIDE_PID"
# (an earlier pgtide of this test logged "reload failed" too: wait for this one's)
pgtide_wait_log "$T/hba.conf:9: invalid CIDR mask" 30
assert_contains "broken hba line named with FILE:LINE" "$T/hba.conf:9: invalid CIDR mask" "$(cat "$T/pgtide.log")"
assert_eq "old rules still in force" "scram_user" "$(tconn scram-pw "$VF user=scram_user")"

# repeated failures from one address: logged, but not once per attempt
before=$(grep -c 'closing because:.*login failed' "$T/pgtide.log")
for i in $(seq 30); do tconn wrong "host=127.0.0.1 sslmode=disable user=plain_user" >/dev/null; done
after=$(grep -c 'closing because:.*login failed' "$T/pgtide.log")
[ $((after - before)) -le 2 ] || fail "30 failed logins made $((after - before)) log lines"
ok "30 failed logins from one address: $((after - before)) log line(s)"
assert_eq "and the others still get in" "plain_user" "$(tconn plain-pw "host=127.0.0.1 sslmode=disable user=plain_user")"
stop_pgtide

# client_login_timeout ends a login that stalls (here: in the TLS handshake)
tls_config "$T/p9.ini" prefer verify-full "client_login_timeout = 1"
pgtide_start "$T/p9.ini"
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "login timeout"
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack("!ii", 8, 80877103))
assert s.recv(1) == b"S"
s.settimeout(5)
t0 = time.time()
assert s.recv(100) == b"", "expected the connection to be closed"  # before settimeout's 5 s
assert time.time() - t0 > 0.9  # by client_login_timeout = 1, not before
PY
ok "client_login_timeout closes a stalled TLS handshake"
stop_pgtide

# ---- SET of TLS settings online takes effect as a reload would, or is refused ----
tls_config "$T/p10.ini" disable require "query_wait_timeout = 3"
pgtide_start "$T/p10.ini"
console() { psql -X -w -At -h "$T" -p "$PGTIDE_PORT" -U pgbouncer -d pgbouncer -c "$1" 2>&1; }
out=$(tconn scram-pw "$VF user=scram_user")
assert_contains "client_tls_sslmode = disable: no TLS" "server does not support SSL" "$out"
console "set client_tls_sslmode = require" >/dev/null
assert_eq "SET client_tls_sslmode = require: TLS at once" "scram_user" "$(tconn scram-pw "$VF user=scram_user")"
# a file that does not load: the setting keeps its value, a NOTICE says why
out=$(console "set client_tls_cert_file = '$T/nonexistent.crt'")
assert_contains "a cert file that does not load is refused" "nonexistent.crt" "$out"
assert_eq "... and TLS goes on with the old one" "scram_user" "$(tconn scram-pw "$VF user=scram_user")"
# a new certificate and key, one SET at a time: the half-set pair is kept
# with a NOTICE while TLS goes on with the old pair; the second half
# switches to the new one
out=$(console "set client_tls_key_file = '$C/server2.key'")
assert_contains "half of a new pair: NOTICE" "until the other half of the new pair is set too" "$out"
assert_eq "... TLS goes on with the old pair" "scram_user" "$(tconn scram-pw "$VF user=scram_user")"
console "set client_tls_cert_file = '$C/server2.crt'" >/dev/null
assert_eq "the whole new pair serves" "scram_user" \
	"$(tconn scram-pw "host=localhost sslmode=verify-full sslrootcert=$C/ca2.crt user=scram_user")"
assert_contains "... and the old CA no longer verifies it" "certificate verify failed" "$(tconn scram-pw "$VF user=scram_user")"
# server side: the wrong CA makes new server connections fail, the right one works
console "set server_tls_sslmode = 'verify-full'" >/dev/null
console "set server_tls_ca_file = '$C/ca2.crt'" >/dev/null
out=$(tconn alice-pw "host=localhost sslmode=require user=alice")
assert_contains "SET server_tls_ca_file to the wrong CA: new servers refused" "certificate verify failed" "$out"
console "set server_tls_ca_file = '$C/ca.crt'" >/dev/null
assert_eq "SET server_tls_ca_file to the right CA" "alice" "$(tconn alice-pw "host=localhost sslmode=require user=alice")"
assert_eq "the server connection is TLS" "t" \
	"$(tconn alice-pw "host=localhost sslmode=require user=alice" "select ssl from pg_stat_ssl where pid = pg_backend_pid()")"
# settings SET cannot apply are refused with the reason
assert_contains "SET of a setting with no effect in pgtide is refused" "cannot be changed online" \
	"$(console "set tcp_defer_accept = 1")"
assert_contains "SET of an unknown setting is refused" 'unknown setting "no_such_thing"' "$(console "set no_such_thing = 1")"
assert_contains "SET of a bad value is refused" "server_tls_sslmode" "$(console "set server_tls_sslmode = 'sometimes'")"
stop_pgtide

echo "# t_tls done"
