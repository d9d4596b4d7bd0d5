#!/bin/bash
# Client authentication from auth_file (plain, md5 and SCRAM secrets) with
# every auth_type, and pgtide's own logins to a Postgres that wants md5 or
# SCRAM, including SCRAM pass-through with nothing but SCRAM secrets stored.
. "$(dirname "$0")/lib.sh"

pg_start main
# Roles with SCRAM and md5 passwords; the server checks them.
pgsql main -c "set password_encryption = 'scram-sha-256'; create role scram_user login password 'scram-pw';" \
	-c "set password_encryption = 'md5'; create role md5_user login password 'md5-pw';" \
	-c "set password_encryption = 'scram-sha-256'; create role plain_user login password 'plain-pw';" || fail "roles"
as_pg sed -i 's/^host.*all.*all.*127.0.0.1\/32.*trust/host all postgres 127.0.0.1\/32 trust\nhost all md5_user 127.0.0.1\/32 md5\nhost all all 127.0.0.1\/32 scram-sha-256/' "$DIR_main/pg_hba.conf"
as_pg pg_ctl -D "$DIR_main" reload >/dev/null
sleep 0.5
SCRAM_SECRET=$(pgsql main -c "select rolpassword from pg_authid where rolname='scram_user'")
MD5_SECRET=$(pgsql main -c "select rolpassword from pg_authid where rolname='md5_user'")
[ -n "$SCRAM_SECRET" ] || fail "no scram secret"

cat >"$T/users.txt" <<USERS
"scram_user" "$SCRAM_SECRET"
"md5_user" "$MD5_SECRET"
"plain_user" "plain-pw"
"postgres" ""
"quote""d" "pw"
USERS

conn() { # conn USER PASSWORD -> first column of select, or the error
	PGPASSWORD="$2" psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=$1 dbname=app" -c "select current_user" 2>&1
}

for at in scram-sha-256 md5 plain; do
	write_config "$T/pgtide-$at.ini" main "auth_file = $T/users.txt" "auth_type = $at"
	sed -i 's/^auth_type = trust$//' "$T/pgtide-$at.ini"
	pgtide_start "$T/pgtide-$at.ini"
	# SCRAM pass-through: the first login proves the password to pgtide,
	# which then logs in to Postgres with the keys from that proof.
	assert_eq "$at: scram secret in auth_file, scram server" "scram_user" "$(conn scram_user scram-pw)"
	if [ $at = scram-sha-256 ]; then
		# as in Postgres: an md5 secret cannot answer a SCRAM exchange
		out=$(conn md5_user md5-pw)
		assert_contains "$at: md5 secret cannot do SCRAM" 'password authentication failed' "$out"
	else
		assert_eq "$at: md5 secret, md5 server" "md5_user" "$(conn md5_user md5-pw)"
	fi
	assert_eq "$at: plain password, scram server" "plain_user" "$(conn plain_user plain-pw)"
	for u in scram_user plain_user $([ $at = scram-sha-256 ] || echo md5_user); do
		out=$(conn $u wrong)
		assert_contains "$at: wrong password for $u" 'password authentication failed for user "'$u'"' "$out"
	done
	out=$(conn nobody whatever)
	assert_contains "$at: unknown user gets the same error" 'password authentication failed for user "nobody"' "$out"
	kill -INT "$PGTIDE_PID"; wait "$PGTIDE_PID" 2>/dev/null
done

# SQLSTATE of a failed login, over the wire
write_config "$T/pgtide-s.ini" main "auth_file = $T/users.txt" "auth_type = scram-sha-256"
sed -i 's/^auth_type = trust$//' "$T/pgtide-s.ini"
pgtide_start "$T/pgtide-s.ini"
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "28P01"
import sys, psycopg
try:
    psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=scram_user password=bad dbname=app")
    raise SystemExit("login with a wrong password succeeded")
except psycopg.OperationalError as e:
    assert "28P01" in str(e) or "password authentication failed" in str(e), e
c = psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=scram_user password=scram-pw dbname=app")
assert c.execute("select current_user").fetchone()[0] == "scram_user"
PY
ok "psycopg logs in with SCRAM through pgtide; bad password refused"

# trust with an auth_file: listed users only
write_config "$T/pgtide-t.ini" main "auth_file = $T/users.txt"
pgtide_start "$T/pgtide-t.ini"
assert_eq "trust: listed user" "postgres" "$(conn postgres x)"
out=$(conn stranger x)
assert_contains "trust: unlisted user refused" 'role "stranger" does not exist' "$out"

# A SCRAM-only user before any client logged in: server login cannot work
# without keys, and the client is told why instead of hanging.
cat >"$T/users2.txt" <<USERS
"scram_user" "$SCRAM_SECRET"
USERS
write_config "$T/pgtide-m.ini" main "auth_file = $T/users2.txt" "auth_type = md5" "min_pool_size = 1" \
	"[databases]" "forced = host=127.0.0.1 port=$PORT_main dbname=postgres user=scram_user"
sed -i 's/^auth_type = trust$//' "$T/pgtide-m.ini"
pgtide_start "$T/pgtide-m.ini"
assert_eq "md5 auth_type with a SCRAM secret logs in with SCRAM" "scram_user" "$(conn scram_user scram-pw)"
assert_eq "the forced-user database works once keys are known" "scram_user" \
	"$(PGPASSWORD=scram-pw psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=scram_user dbname=forced" -c 'select current_user' 2>&1)"

# trust in front, SCRAM-only secret behind: nothing to log in with, and the
# client is told so at once.
write_config "$T/pgtide-k.ini" main "auth_file = $T/users2.txt"
pgtide_start "$T/pgtide-k.ini"
out=$(conn scram_user x)
assert_contains "no SCRAM keys: clear error, no hang" "wrong password type: a SCRAM secret serves only once a client has logged in with SCRAM" "$out"
