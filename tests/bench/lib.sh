# Shared by the benchmark scripts (sourced): the integration tests' helpers
# (throwaway clusters, pgtide_start, ...) without their pass/fail summary,
# Debian packages a script needs, and a PgBouncer set up like pgtide.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${builddir:-$top/build}
srcdir=$top
export builddir srcdir
. "$top/tests/integration/lib.sh"
trap - EXIT
trap cleanup EXIT
cleanup_rc() { :; }
[ -x "$PGTIDE" ] || { echo "build pgtide first (tests/check.sh --quick)"; exit 1; }
# pgtide in a session of its own, as PgBouncer -d puts itself: with the
# kernel's autogroup scheduling a session is a CPU share, and a pooler that
# shares one with pgbench gets less CPU on a busy machine than one that
# does not, whatever its code does.
PGTIDE_SESSION=1

# bench_need CMD... : install the Debian package of that name when missing
bench_need() {
	local pkg
	for pkg in "$@"; do
		command -v "$pkg" >/dev/null && continue
		if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$pkg" >/dev/null; else sudo apt-get install -y -qq "$pkg" >/dev/null; fi ||
			{ echo "could not install $pkg"; exit 1; }
	done
}

# pgbouncer_start DATABASE_LINES SETTINGS: PgBouncer in transaction mode with
# trust for "postgres", as the postgres OS user (it refuses root), with the
# open-file limit raised; sets PB_PORT and PB_PID.
pgbouncer_start() {
	bench_need pgbouncer
	PB_PORT=$(free_port)
	mkdir -p "$T/pgb"
	echo '"postgres" ""' >"$T/pgb/users.txt"
	cat >"$T/pgb/pgbouncer.ini" <<INI
[databases]
$1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $T/pgb/users.txt
pool_mode = transaction
$2
logfile = $T/pgb/pgbouncer.log
pidfile = $T/pgb/pgbouncer.pid
INI
	chown -R postgres "$T/pgb" 2>/dev/null
	as_pg sh -c "ulimit -n $(ulimit -Hn); exec pgbouncer -d $T/pgb/pgbouncer.ini" || fail "pgbouncer did not start"
	for _ in $(seq 50); do [ -s "$T/pgb/pgbouncer.pid" ] && break; sleep 0.1; done
	PB_PID=$(cat "$T/pgb/pgbouncer.pid")
	PIDS+=("$PB_PID")
}

# bench_primary [SCALE]: print the machine, start cluster "main" and fill
# it with pgbench tables (scale 10 by default).
bench_primary() {
	echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
	pg_start main
	pgbench -i -s "${1:-10}" -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
}

# bench_tools: build tests/bench/relay and copyload (make does, with the
# check programs) and set BENCH_BIN.
bench_tools() {
	BENCH_BIN=$builddir/tests/bench
	(cd "$builddir" && make -s tests/bench/relay tests/bench/copyload) >/dev/null || fail "could not build the bench tools"
}

# relay_start UPSTREAM_PORT: the 1:1 relay in a session of its own; sets
# RL_PORT and RL_PID.
relay_start() {
	RL_PORT=$(free_port)
	setsid "$BENCH_BIN/relay" "$RL_PORT" "$1" >"$T/relay.log" 2>&1 &
	RL_PID=$!
	PIDS+=("$RL_PID")
	for _ in $(seq 50); do
		"$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $RL_PORT), 0.2)" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the relay did not start"
}
