#!/bin/bash
# The command line, --check, -d with a pidfile, and the signals: HUP reload
# under a running transaction, USR1/USR2 pause and resume, INT/TERM
# graceful shutdown that lets a running transaction commit.
. "$(dirname "$0")/lib.sh"

pg_start main
write_config "$T/pgtide.ini" main "default_pool_size = 2" "pidfile = $T/pgtide.pid"

out=$("$PGTIDE" --check "$T/pgtide.ini" 2>&1); rc=$?
assert_eq "--check on a good file exits 0" "0" "$rc"
assert_contains "--check says so" "configuration OK" "$out"
cp "$T/pgtide.ini" "$T/bad.ini"
printf 'default_pool_size = many\nbogus_setting = 1\n[databases]\nx = host=h port=0\n' >>"$T/bad.ini"
lines=$(wc -l <"$T/bad.ini")
out=$("$PGTIDE" -t "$T/bad.ini" 2>&1); rc=$?
assert_eq "--check on a bad file exits 1" "1" "$rc"
assert_contains "--check names FILE:LINE of a bad value" "$T/bad.ini:$((lines - 3)): invalid value \"many\" for default_pool_size" "$out"
assert_contains "--check: unknown setting is an error" "$T/bad.ini:$((lines - 2)): unknown setting \"bogus_setting\"" "$out"
assert_contains "--check: bad database line" "$T/bad.ini:$lines: database \"x\"" "$out"
out=$("$PGTIDE" --check "$T/missing.ini" 2>&1); rc=$?
assert_eq "--check on a missing file exits 1" "1" "$rc"
assert_contains "--version" "pgtide " "$("$PGTIDE" --version)"
"$PGTIDE" --help | grep -q -- "--check" || fail "--help"
ok "--help"

# -d needs a pidfile; with one it daemonizes and cleans up on TERM
grep -v pidfile "$T/pgtide.ini" >"$T/nopid.ini"
out=$("$PGTIDE" -d "$T/nopid.ini" 2>&1); rc=$?
assert_eq "-d without pidfile fails" "1" "$rc"
assert_contains "-d without pidfile says why" "pidfile" "$out"
"$PGTIDE" -d "$T/pgtide.ini" || fail "-d did not start"
pid=$(cat "$T/pgtide.pid")
kill -0 "$pid" || fail "daemon not running"
PIDS+=("$pid")
assert_eq "daemon serves queries" "1" "$(tsql -c 'select 1')"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon did not stop on TERM"
[ -e "$T/pgtide.pid" ] && fail "pidfile left behind"
ok "daemon stopped on TERM and removed its pidfile"

# unknown setting at run time: a warning, not a refusal
echo "some_future_setting = 1" >>"$T/pgtide.ini"
pgtide_start "$T/pgtide.ini"
pgtide_wait_log 'warning: unknown setting "some_future_setting"'
ok "unknown setting logged as a warning at start"

# SIGHUP: a transaction runs across the reload; the new pool size applies
"$PYTHON" - "$PGTIDE_PORT" "$T/pgtide.ini" "$PGTIDE_PID" "$PORT_main" <<'PY' || fail "reload"
import os, signal, sys, time, threading, psycopg
port, cfg, pid, pgport = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"
c = psycopg.connect(ci)
c.execute("create table if not exists reload_t(x int)")
c.commit()
c.execute("insert into reload_t values (1)")  # transaction open
text = open(cfg).read().replace("default_pool_size = 2", "default_pool_size = 4")
open(cfg, "w").write(text)
os.kill(pid, signal.SIGHUP)
time.sleep(0.5)
c.execute("insert into reload_t values (2)")
c.commit()
assert c.execute("select count(*) from reload_t").fetchone()[0] == 2
c.commit()  # psycopg opened a transaction for the count: end it
# now 4 servers can be busy at once
conns = [psycopg.connect(ci, autocommit=True) for _ in range(4)]
ts = [threading.Thread(target=lambda k=k: k.execute("select pg_sleep(1)")) for k in conns]
t0 = time.time()
for t in ts: t.start()
time.sleep(0.5)
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres", autocommit=True)
n = admin.execute("select count(*) from pg_stat_activity where query = 'select pg_sleep(1)' and state = 'active'").fetchone()[0]
for t in ts: t.join()
assert n == 4, n
PY
ok "SIGHUP: running transaction unharmed, default_pool_size 2 -> 4 applied"
cp "$T/pgtide.ini" "$T/good.ini"
echo "default_pool_size = -1" >>"$T/pgtide.ini"
kill -HUP "$PGTIDE_PID"
pgtide_wait_log "reload failed: keeping the running configuration"
assert_eq "broken reload keeps serving" "1" "$(tsql -c 'select 1')"
cp "$T/good.ini" "$T/pgtide.ini"

# SIGUSR1 pauses new transactions, SIGUSR2 lets them go on
kill -USR1 "$PGTIDE_PID"
pgtide_wait_log "pausing"
start=$(date +%s.%N)
( sleep 1; kill -USR2 "$PGTIDE_PID" ) &
assert_eq "paused query completes after resume" "5" "$(tsql -c 'select 5')"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
[ "$(echo "$elapsed > 0.8" | bc)" = 1 ] || fail "query was not held while paused ($elapsed s)"
ok "SIGUSR1/SIGUSR2 hold and release new transactions"

# Graceful shutdown: an open transaction may commit; idle clients are told.
"$PYTHON" - "$PGTIDE_PORT" "$PGTIDE_PID" "$PORT_main" <<'PY' || fail "graceful shutdown"
import os, signal, sys, time, psycopg, socket
port, pid, pgport = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"
busy = psycopg.connect(ci)
idle = psycopg.connect(ci, autocommit=True)
idle.execute("select 1")               # served: told at once on SIGTERM
fresh = psycopg.connect(ci, autocommit=True)   # connected, never served
busy.execute("create table if not exists shut_t(x int)")
busy.commit()
busy.execute("insert into shut_t values (42)")
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
# new connections are refused
try:
    psycopg.connect(ci, connect_timeout=2)
    raise SystemExit("new connection accepted during shutdown")
except psycopg.OperationalError:
    pass
# the idle client was told
try:
    idle.execute("select 1")
    raise SystemExit("idle client kept working")
except psycopg.Error as e:
    pass
# a client that connected before the signal but was not served yet gets
# its one transaction (a connection per request loses nothing), then goes
assert fresh.execute("select 7").fetchone()[0] == 7, "the fresh client was not served"
time.sleep(0.3)
try:
    fresh.execute("select 1")
    raise SystemExit("the fresh client kept working after its transaction")
except psycopg.Error:
    pass
busy.execute("insert into shut_t values (43)")
busy.commit()
for _ in range(50):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.1)
else:
    raise SystemExit("pgtide still running after the last transaction")
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres")
assert admin.execute("select count(*) from shut_t where x in (42, 43)").fetchone()[0] == 2
PY
ok "SIGTERM: no new clients, running transaction committed, then exit"

# A second INT exits at once even with a transaction open.
pgtide_start "$T/pgtide.ini"
psql -X -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c "begin" -c "select pg_sleep(30)" >/dev/null 2>&1 &
sleep 0.5
kill -INT "$PGTIDE_PID"; sleep 0.2; kill -INT "$PGTIDE_PID"
for _ in $(seq 30); do kill -0 "$PGTIDE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PGTIDE_PID" 2>/dev/null && fail "second SIGINT did not stop pgtide"
ok "second SIGINT: immediate exit"
