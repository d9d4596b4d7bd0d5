#!/bin/bash
# What operators run pgtide with: the systemd unit (started, reloaded and
# stopped the way systemd drives it, with its sd_notify messages read from
# a $NOTIFY_SOCKET of our own: no systemd needed), and the secrets helper
# (pgtide --scram-secret / --md5) checked against Postgres itself.
. "$(dirname "$0")/lib.sh"

UNIT=$builddir/etc/pgtide.service
[ -f "$UNIT" ] || fail "no $UNIT (make builds it)"
unitval() { sed -n "s/^$1=//p" "$UNIT" | head -1; }

assert_eq "Type=notify" "notify" "$(unitval Type)"
exec_start=$(unitval ExecStart)
case $exec_start in
*/bin/pgtide\ */pgtide.ini) ok "ExecStart runs the installed pgtide on the installed ini: $exec_start" ;;
*) fail "ExecStart: [$exec_start]" ;;
esac
assert_eq "ExecReload sends SIGHUP" '/bin/kill -HUP $MAINPID' "$(unitval ExecReload)"
assert_eq "KillSignal is the graceful stop" "SIGTERM" "$(unitval KillSignal)"
nofile=$(unitval LimitNOFILE)
[ "$nofile" -ge 60001 ] && ok "LimitNOFILE $nofile: two descriptors per client for max_client_conn = 30000" ||
	fail "LimitNOFILE [$nofile]"
assert_eq "runs as its own user" "pgtide" "$(unitval User)"
if command -v systemd-analyze >/dev/null; then
	# the unit's syntax, with our binary in place of the installed one
	sed -e "s|^ExecStart=.*|ExecStart=$PGTIDE /dev/null|" -e "s|^User=.*|User=root|" -e "s|^Group=.*|Group=root|" \
		"$UNIT" >"$T/pgtide.service"
	# (man pages are checked below, installed or not)
	out=$(systemd-analyze verify "$T/pgtide.service" 2>&1 | grep -v -e "Documentation" -e "man:" -e "Command 'man " || true)
	[ -z "$out" ] && ok "systemd-analyze verify: no complaint" || fail "systemd-analyze verify: $out"
else
	echo "# SKIP systemd-analyze verify: systemd-analyze not installed (the unit's values are checked above)"
fi

# ---- started, reloaded, stopped as systemd does ----
pg_start main
write_config "$T/pgtide.ini" main "log_connections = 0"
"$PYTHON" - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " ") + "\n")
PY
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
# ExecStart, with the binary and ini of this build; the environment systemd gives
NOTIFY_SOCKET=$T/notify.sock "$PGTIDE" "$T/pgtide.ini" >>"$T/pgtide.log" 2>&1 &
MAINPID=$!
PIDS+=("$MAINPID")
wait_notify() { # wait_notify PATTERN COUNT
	for _ in $(seq $((100 * VG_SLOW))); do
		[ "$(grep -c -- "$1" "$T/notify.log" 2>/dev/null)" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	cat "$T/notify.log" >&2
	fail "no [$1] x${2:-1} from pgtide"
}
wait_notify "READY=1"
assert_contains "READY=1 names the main pid" "MAINPID=$MAINPID" "$(cat "$T/notify.log")"
assert_eq "it serves once READY" "1" "$(tsql -c 'select 1')"
# ExecReload, as systemd runs it
eval "$(unitval ExecReload | sed "s/\$MAINPID/$MAINPID/")"
wait_notify "RELOADING=1"
wait_notify "READY=1" 2
assert_contains "RELOADING=1 carries MONOTONIC_USEC (Type=notify-reload wants it)" "MONOTONIC_USEC=" \
	"$(grep RELOADING "$T/notify.log")"
pgtide_wait_log "configuration reloaded"
ok "ExecReload: RELOADING=1, the reload, READY=1"
# a broken file: READY=1 again, and the message says so
echo "broken line" >>"$T/pgtide.ini"
kill -HUP "$MAINPID"
wait_notify "READY=1" 3
assert_contains "a failed reload is reported in STATUS" "reload failed" "$(tail -1 "$T/notify.log")"
# stop: KillSignal, then wait as TimeoutStopSec would
kill -"$(unitval KillSignal | sed 's/^SIG//')" "$MAINPID"
wait_notify "STOPPING=1"
rc=0
for _ in $(seq $((100 * VG_SLOW))); do kill -0 "$MAINPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MAINPID" 2>/dev/null && fail "pgtide still runs after its KillSignal"
wait "$MAINPID" || rc=$?
assert_eq "stopped by its KillSignal, exit status 0" "0" "$rc"

# ---- secrets for userlist.txt ----
secret=$(echo 'correct horse battery' | "$PGTIDE" --scram-secret)
case $secret in SCRAM-SHA-256\$4096:*) ok "--scram-secret: $secret" ;; *) fail "--scram-secret: [$secret]" ;; esac
second=$(echo 'correct horse battery' | "$PGTIDE" --scram-secret)
[ "$second" != "$secret" ] && ok "a new random salt each time" || fail "the same secret twice"
# Postgres takes the secret as the role's password and the password logs in
as_pg sed -i '1i host all alice 127.0.0.1/32 scram-sha-256\nhost all bob 127.0.0.1/32 md5' "$DIR_main/pg_hba.conf"
pgsql main -c "select pg_reload_conf()" -c "create role alice login password '$secret'" >/dev/null ||
	fail "Postgres refused the secret"
assert_eq "Postgres stored it as it is" "$secret" \
	"$(pgsql main -c "select rolpassword from pg_authid where rolname = 'alice'")"
assert_eq "the password logs in to Postgres with it" "alice" \
	"$(PGPASSWORD='correct horse battery' psql -X -At -h 127.0.0.1 -p "$PORT_main" -U alice postgres -c 'select current_user' 2>&1)"
md5=$(printf "p'w\\\\1\n" | "$PGTIDE" --md5 bob)
pgsql main -c "set password_encryption = 'md5'" -c "create role bob login password 'p''w\\1'" >/dev/null
assert_eq "--md5 USER: what Postgres stores" "$(pgsql main -c "select rolpassword from pg_authid where rolname = 'bob'")" "$md5"
# and through pgtide, with a userlist.txt made by the helper
cat >"$T/users.txt" <<USERS
"alice" "$secret"
"bob" "$md5"
USERS
write_config "$T/auth.ini" main "auth_type = scram-sha-256" "auth_file = $T/users.txt"
sed -i 's/^auth_type = trust$//' "$T/auth.ini"
pgtide_start "$T/auth.ini"
assert_eq "a SCRAM secret from the helper logs in through pgtide (and on to Postgres)" "alice" \
	"$(PGPASSWORD='correct horse battery' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U alice app -c 'select current_user' 2>&1)"
out=$(PGPASSWORD='wrong' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U alice app -c 'select 1' 2>&1)
assert_contains "a wrong password does not" "password authentication failed" "$out"
out=$(printf '' | "$PGTIDE" --scram-secret 2>&1)
assert_contains "no password on stdin: an error" "no password on stdin" "$out"

# ---- make install: binary, sample ini, unit, manual pages ----
make -s -C "$builddir" install DESTDIR="$T/inst" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make install"; }
prefix=$(sed -n 's/^prefix = //p' "$builddir/Makefile")
for f in bin/pgtide etc/pgtide.ini share/man/man1/pgtide.1 share/man/man5/pgtide.ini.5 share/doc/pgtide/README.md \
	share/doc/pgtide/docker/compose.yml share/doc/pgtide/docker/grafana-dashboard.json; do
	[ -f "$T/inst$prefix/$f" ] || fail "make install did not install $f"
done
unitdir=$(sed -n 's/^systemdsystemunitdir = //p' "$builddir/Makefile" | sed "s|\${prefix}|$prefix|")
if [ -n "$unitdir" ]; then
	[ -f "$T/inst$unitdir/pgtide.service" ] || fail "make install did not install pgtide.service in $unitdir"
	assert_contains "the installed unit runs the installed binary" "ExecStart=$prefix/bin/pgtide $prefix/etc/pgtide.ini" \
		"$(cat "$T/inst$unitdir/pgtide.service")"
fi
ok "make install: pgtide, pgtide.ini, pgtide(1), pgtide.ini(5), docs${unitdir:+, $unitdir/pgtide.service}"
if command -v man >/dev/null; then
	page=$(MANWIDTH=1000 man -l "$T/inst$prefix/share/man/man5/pgtide.ini.5" 2>/dev/null)
	# every setting, with its default, is on the page (it is made from the sample ini)
	missing=$(sed -n 's/^;\([a-z_]*\) = \(.*\)$/\1 = \2/p' "$srcdir/etc/pgtide.ini" | while read -r line; do
		printf '%s\n' "$page" | grep -qF -- "$line" || echo "$line"
	done)
	[ -z "$missing" ] && ok "pgtide.ini(5) shows every setting of the sample with its default" ||
		fail "pgtide.ini(5) lacks: $missing"
	assert_contains "pgtide(1) documents --scram-secret" "--scram-secret" \
		"$(MANWIDTH=100 man -l "$T/inst$prefix/share/man/man1/pgtide.1" 2>/dev/null)"
else
	echo "# SKIP rendering the manual pages: man not installed (they were installed above)"
fi

# ---- docker/: the compose topology's pgtide.ini loads; the dashboard's metrics exist ----
sed -e "s|/etc/pgtide/userlist.txt|$srcdir/docker/userlist.txt|" "$srcdir/docker/pgtide.ini" >"$T/docker.ini"
out=$("$PGTIDE" --check "$T/docker.ini" 2>&1)
assert_contains "docker/pgtide.ini passes --check" "configuration OK" "$out"
# the two instances behind HAProxy: each includes it and the peer list
cp "$srcdir/docker/peers.ini" "$srcdir/docker/pgtide1.ini" "$srcdir/docker/pgtide2.ini" "$T/"
cp "$T/docker.ini" "$T/pgtide.ini"
for i in 1 2; do
	out=$("$PGTIDE" --check "$T/pgtide$i.ini" 2>&1)
	assert_contains "docker/pgtide$i.ini passes --check" "configuration OK" "$out"
done
if command -v haproxy >/dev/null; then
	out=$(haproxy -c -f "$srcdir/docker/haproxy.cfg" 2>&1)
	assert_contains "docker/haproxy.cfg is valid" "Configuration file is valid" "$out"
else
	echo "# SKIP docker/haproxy.cfg check: haproxy not installed"
fi
"$PYTHON" - "$srcdir/docker/compose.yml" <<'PY' || fail "compose.yml"
import sys
text = open(sys.argv[1]).read()
try:
    import yaml
    doc = yaml.safe_load(text)
    services = set(doc["services"])
except ImportError:  # no PyYAML: the service names, read plainly
    services = {l.strip()[:-1] for l in text.splitlines() if l.startswith("  ") and not l.startswith("   ") and l.strip().endswith(":")}
need = {"primary", "replica", "pgtide", "prometheus"}
assert need <= services, services
print(f"ok - compose.yml: {', '.join(sorted(services))}")
PY
METRICS=$(free_port)
write_config "$T/m.ini" main "metrics_port = $METRICS" "metrics_top_tenants = 5" \
	"[databases]" "ro = host=127.0.0.1 port=$PORT_main dbname=postgres replicas=127.0.0.1:$PORT_main"
pgtide_start "$T/m.ini"
PGOPTIONS='-c app.current_tenant_id=acme' tsql -c 'select 1' >/dev/null
for _ in $(seq 30); do curl -sf "http://127.0.0.1:$METRICS/metrics" >"$T/metrics.txt" && break; sleep 0.2; done
"$PYTHON" - "$srcdir/docker/grafana-dashboard.json" "$T/metrics.txt" <<'PY' || fail "dashboard"
import json, re, sys
dash = json.load(open(sys.argv[1]))
have = set(re.findall(r"^# HELP (pgtide_\w+)", open(sys.argv[2]).read(), re.M))
used = set()
for p in dash["panels"]:
    for t in p["targets"]:
        used |= set(re.findall(r"\b(pgtide_\w+)", t["expr"]))
missing = used - have
assert not missing, f"the dashboard queries metrics pgtide does not export: {missing}"
print(f"ok - the Grafana dashboard's {len(dash['panels'])} panels query {len(used)} metrics, all exported")
PY
