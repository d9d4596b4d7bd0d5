# Shared helpers for pgtide's integration tests (sourced by each t_*.sh).
#
# Each test starts throwaway Postgres clusters on free 127.0.0.1 ports, run
# as the `postgres` OS user when the tests run as root (as CI does), and
# pgtide in front of them. Everything lives under one temporary directory
# that is removed when the test exits. Never mocks the server.

set -u

: "${PGBIN:=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$PGBIN:$PATH"
export PGCONNECT_TIMEOUT=10
export PYTHONDONTWRITEBYTECODE=1

srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-$(pwd)}
PGTIDE=${PGTIDE:-$builddir/src/pgtide}
TESTBIN=${TESTBIN:-$builddir/tests/integration}
TNAME=$(basename "$0" .sh)
export PYTHONPATH="$srcdir/tests/integration${PYTHONPATH:+:$PYTHONPATH}"

T=$(mktemp -d "${TMPDIR:-/tmp}/pgtide-$TNAME.XXXXXX")
chmod 755 "$T"
PIDS=()
CLUSTERS=()
FAILED=0

# PGTIDE_VALGRIND=1 (make check-valgrind): every pgtide the test starts
# runs under valgrind's memcheck; any error or definite leak fails the test.
VG_SLOW=1
if [ -n "${PGTIDE_VALGRIND:-}" ]; then
	command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
	cat >"$T/pgtide-vg" <<VG
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --num-callers=30 --log-file="$T/valgrind-%p.log" "$PGTIDE" "\$@"
VG
	chmod +x "$T/pgtide-vg"
	PGTIDE=$T/pgtide-vg
	VG_SLOW=10 # what a timing bound allows for
fi

if [ "$(id -u)" = 0 ]; then
	PGUSER_OS=postgres
	chown postgres "$T"
	as_pg() { runuser -u postgres -- "$@"; }
else
	PGUSER_OS=$(id -un)
	as_pg() { "$@"; }
fi

log() { printf '# %s\n' "$*" >&2; }

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for d in "${CLUSTERS[@]}"; do as_pg pg_ctl -D "$d" -m immediate stop >/dev/null 2>&1; done
	# Under valgrind any error or definite leak fails the test.
	for f in "$T"/valgrind-*.log; do
		[ -s "$f" ] || continue
		if grep -q -E "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)|uninitialised" "$f"; then
			echo "FAIL: valgrind report from pgtide:" >&2
			head -n 60 "$f" >&2
			FAILED=1
			rc=1
		fi
	done
	# Under --enable-sanitizers any report from pgtide fails the test.
	if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/pgtide*.log >/dev/null 2>&1; then
		echo "FAIL: sanitizer report from pgtide:" >&2
		grep -h -A25 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/pgtide*.log >&2
		FAILED=1
		rc=1
	fi
	# A state transition pgtide did not expect is a bug, whatever the test saw.
	if grep -l "please report this" "$T"/pgtide*.log >/dev/null 2>&1; then
		echo "FAIL: pgtide logged an unexpected state:" >&2
		grep -h "please report this" "$T"/pgtide*.log >&2
		FAILED=1
		rc=1
	fi
	if [ "$FAILED" != 0 ] || [ "$rc" != 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
	fi
	if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "# kept $T" >&2; fi
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	FAILED=1
	exit 1
}

ok() { echo "ok - $*"; }

assert_eq() {
	# assert_eq WHAT EXPECTED ACTUAL
	if [ "$2" != "$3" ]; then
		fail "$1: expected [$2], got [$3]"
	fi
	ok "$1"
}

assert_contains() {
	case "$3" in
	*"$2"*) ok "$1" ;;
	*) fail "$1: expected to find [$2] in [$3]" ;;
	esac
}

free_port() {
	"$PYTHON" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# A template cluster is made once per build tree and copied per test.
template_cluster() {
	local tdir="$builddir/tests/tmp"
	mkdir -p "$tdir"
	chmod 755 "$tdir" "$builddir/tests" 2>/dev/null
	[ "$(id -u)" = 0 ] && chown postgres "$tdir"
	(
		flock 9
		if [ ! -f "$tdir/template/PG_VERSION" ]; then
			rm -rf "$tdir/template"
			as_pg initdb -D "$tdir/template" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$tdir/initdb.log" 2>&1 ||
				as_pg initdb -D "$tdir/template" -U postgres -A trust -E UTF8 --no-locale >"$tdir/initdb.log" 2>&1 ||
				{ cat "$tdir/initdb.log" >&2; exit 1; }
		fi
	) 9>"$tdir/.lock" || fail "initdb failed"
	echo "$tdir/template"
}

# pg_start NAME: start a cluster; sets PORT_<NAME> and DIR_<NAME>.
pg_start() {
	local name=$1
	shift
	local dir="$T/pg-$name" port
	port=$(free_port)
	as_pg cp -a "$(template_cluster)" "$dir" || fail "copy template"
	pg_configure "$dir" "$port"
	as_pg pg_ctl -D "$dir" -l "$T/pg-$name.log" -w -t 60 start >/dev/null || fail "postgres $name did not start"
	CLUSTERS+=("$dir")
	eval "PORT_$name=$port"
	eval "DIR_$name=$dir"
}

pg_configure() {
	local dir=$1 port=$2
	as_pg tee -a "$dir/postgresql.conf" >/dev/null <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 200
max_prepared_transactions = 10
max_wal_senders = 10
wal_level = replica
hot_standby = on
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
}

# replica NAME [PRIMARY]: a streaming standby of cluster PRIMARY (main);
# sets PORT_<NAME> and DIR_<NAME>.
replica() {
	local name=$1 primary=${2:-main} dir="$T/pg-$1" port pport
	eval "pport=\$PORT_$primary"
	port=$(free_port)
	as_pg pg_basebackup -h 127.0.0.1 -p "$pport" -U postgres -D "$dir" -R -X stream -c fast >/dev/null 2>&1 ||
		fail "pg_basebackup for $name"
	pg_configure "$dir" "$port"
	as_pg pg_ctl -D "$dir" -l "$T/pg-$name.log" -w -t 60 start >/dev/null || fail "replica $name did not start"
	CLUSTERS+=("$dir")
	eval "PORT_$name=$port"
	eval "DIR_$name=$dir"
}

# ryw_cluster: cluster "main" with table ryw (read-your-writes tests and
# benchmark) and synchronous_commit = on, as in production (the test
# clusters default to off: a replica would then see a commit only at the
# WAL writer's next round, 200 ms later), and its streaming replicas r1, r2.
ryw_cluster() {
	pg_start main
	pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE TABLE ryw (k bigint PRIMARY KEY, tenant text);
ALTER SYSTEM SET synchronous_commit = on;
SELECT pg_reload_conf();
SQL
	replica r1
	replica r2
}

pg_stop() {
	local dir
	eval "dir=\$DIR_$1"
	as_pg pg_ctl -D "$dir" -m "${2:-fast}" -w stop >/dev/null 2>&1
}

# psql against a cluster directly: pgsql NAME [psql args...]
pgsql() {
	local port
	eval "port=\$PORT_$1"
	shift
	psql -X -q -At -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# pgtide_start CONFIG [extra args]: start, wait for the port, set PGTIDE_PID.
pgtide_start() {
	local cfg=$1
	shift
	# PGTIDE_SESSION=1: a session of its own (benchmarks, see tests/bench/lib.sh)
	${PGTIDE_SESSION:+setsid} "$PGTIDE" "$@" "$cfg" >>"$T/pgtide.log" 2>&1 &
	PGTIDE_PID=$!
	PIDS+=("$PGTIDE_PID")
	local port
	port=$(sed -n 's/^listen_port *= *//p' "$cfg" | head -1)
	# The unix socket opens after the TCP port: wait for both, or a test's
	# first psql over the socket races a slow (valgrind) start.
	local sockdir
	sockdir=$(sed -n 's/^unix_socket_dir *= *//p' "$cfg" | head -1)
	for _ in $(seq $((100 * VG_SLOW))); do
		if "$PYTHON" -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null &&
			{ [ -z "$sockdir" ] || [ -S "$sockdir/.s.PGSQL.$port" ]; }; then
			return 0
		fi
		kill -0 "$PGTIDE_PID" 2>/dev/null || { cat "$T/pgtide.log" >&2; fail "pgtide exited at start"; }
		sleep 0.1
	done
	fail "pgtide did not start listening on $port"
}

# Write a standard pgtide config in front of cluster NAME.
# write_config FILE NAME [extra main-section lines...]
write_config() {
	local file=$1 name=$2
	shift 2
	local pgport
	eval "pgport=\$PORT_$name"
	PGTIDE_PORT=$(free_port)
	cat >"$file" <<CONF
[databases]
app = host=127.0.0.1 port=$pgport dbname=postgres
* = host=127.0.0.1 port=$pgport

[pgtide]
listen_addr = 127.0.0.1
listen_port = $PGTIDE_PORT
unix_socket_dir = $T
auth_type = trust
admin_users = admin
stats_users = stats
logfile = $T/pgtide-file.log
CONF
	for line in "$@"; do echo "$line" >>"$file"; done
}

# psql through pgtide: tsql [psql args...] (user postgres, db app by default)
# show_col SHOWCMD COLUMN [KEYCOLUMN=VALUE...]: the values of COLUMN in
# the admin console's answer, in the rows where every KEYCOLUMN matches.
# Columns are looked up by name in the header, so a new column never
# shifts what a test reads. ADMIN_CONN overrides the console's address.
show_col() {
	local cmd=$1 col=$2
	shift 2
	psql -X -q -A -F '|' -P footer=off "${ADMIN_CONN:-host=127.0.0.1 port=$PGTIDE_PORT user=admin dbname=pgtide}" \
		-c "$cmd" | awk -F'|' -v col="$col" -v filt="$*" '
		NR == 1 {
			for (i = 1; i <= NF; i++) idx[$i] = i
			if (!(col in idx)) { print "show_col: no column " col > "/dev/stderr"; exit 2 }
			n = split(filt, fs, " ")
			for (j = 1; j <= n; j++) {
				split(fs[j], kv, "=")
				if (!(kv[1] in idx)) { print "show_col: no column " kv[1] > "/dev/stderr"; exit 2 }
			}
			next
		}
		{
			keep = 1
			for (j = 1; j <= n; j++) { split(fs[j], kv, "="); if ($(idx[kv[1]]) != kv[2]) keep = 0 }
			if (keep) print $(idx[col])
		}'
}

tsql() {
	psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U "${TUSER:-postgres}" -d "${TDB:-app}" "$@"
}

pgtide_wait_log() {
	# pgtide_wait_log PATTERN [seconds]
	local pat=$1 secs=${2:-10}
	for _ in $(seq $((secs * 10))); do
		grep -q -- "$pat" "$T/pgtide.log" && return 0
		sleep 0.1
	done
	fail "log did not show [$pat]"
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds, and
# fail naming WHAT if it never does. For conditions that come late (a
# timer fired, a count dropped): never a fixed sleep before an assertion.
wait_for() {
	local secs=$1 what=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "$what (waited ${secs} s)"
}

# node_modules with pg and postgres.js, installed once per build tree (a
# lock: tests run in parallel). Prints the directory, or nothing when node
# or npm is missing or the install failed.
node_modules_dir() {
	command -v node >/dev/null && command -v npm >/dev/null || return 0
	local dir="$builddir/tests/tmp/node"
	mkdir -p "$dir"
	(
		flock 8
		if [ ! -d "$dir/node_modules/pg" ] || [ ! -d "$dir/node_modules/postgres" ]; then
			(cd "$dir" && npm init -y >/dev/null 2>&1 && npm install --no-audit --no-fund pg@8 postgres@3 >/dev/null 2>&1) ||
				echo "# npm install failed" >&2
		fi
	) 8>"$dir/.lock"
	[ -d "$dir/node_modules/pg" ] && [ -d "$dir/node_modules/postgres" ] && echo "$dir/node_modules"
	return 0
}
