#!/bin/bash
# Behaviour PgBouncer users rely on (issue 20, and PgBouncer's own suite,
# tests/compat/): a client's cancel reaches only its own query;
# max_db_connections holds across users, taking idle servers from other
# pools; a client waits through a Postgres restart instead of failing;
# the console over the unix socket for pgtide's own OS user;
# server_fast_close; PgBouncer's words in the log, which cannot be forged.
. "$(dirname "$0")/lib.sh"

pg_start main
P=$PORT_main
pgsql main -c "create role u1 login" -c "create role u2 login" -c "create role u3 login" \
	-c "create role u4 login" >/dev/null || fail "roles"
write_config "$T/pgtide.ini" main "server_login_retry = 1" "query_wait_timeout = 20" \
	"[databases]" \
	"stmt = host=127.0.0.1 port=$P dbname=postgres pool_mode=statement pool_size=1" \
	"capped = host=127.0.0.1 port=$P dbname=postgres pool_size=5 max_db_connections=2" \
	"sess = host=127.0.0.1 port=$P dbname=postgres pool_mode=session pool_size=2" \
	"rsv = host=127.0.0.1 port=$P dbname=postgres pool_size=1 reserve_pool=2" \
	"[pgtide]" "reserve_pool_timeout = 0.3"
pgtide_start "$T/pgtide.ini"
MAIN_PORT=$PGTIDE_PORT MAIN_PID=$PGTIDE_PID

# 1. A client's cancels reach only its own query: A runs a long query, B
# waits for the one server, A sends a hundred cancels at once. The first
# ends A's query and the server passes to B; the others, already on their
# way, must not cancel B's query (PgBouncer's test_cancel_race).
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "cancel race"
import sys, time, psycopg
from concurrent.futures import ThreadPoolExecutor
port = int(sys.argv[1])
def conn():
    return psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=stmt", autocommit=True,
                           prepare_threshold=None)
for attempt in range(3):
    a, b = conn(), conn()
    with ThreadPoolExecutor(max_workers=100) as pool:
        qa = pool.submit(a.execute, "select pg_sleep(5)")
        time.sleep(0.5)
        qb = pool.submit(b.execute, "select pg_sleep(1), 'b'")
        time.sleep(0.5)
        for f in [pool.submit(a.cancel) for _ in range(100)]:
            f.result()
        try:
            qa.result()
            raise SystemExit("A's query was not canceled")
        except psycopg.errors.QueryCanceled:
            pass
        try:
            assert qb.result().fetchone()[1] == "b"
        except psycopg.errors.QueryCanceled:
            raise SystemExit(f"attempt {attempt}: A's cancels canceled B's query")
    a.close(); b.close()
print("ok - a hundred cancels from one client end its own query, never the next client's")
PY

# 2. max_db_connections = 2 across four users, each running pg_sleep at
# once: never more than two backends for the database.
"$PYTHON" - "$PGTIDE_PORT" "$P" <<'PY' || fail "max_db_connections"
import sys, threading, time, psycopg
port, pgport = int(sys.argv[1]), int(sys.argv[2])
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres", autocommit=True)
def backends():
    return admin.execute("select count(*) from pg_stat_activity where usename in ('u1','u2','u3','u4')").fetchone()[0]
peak, done = [0], []
def run(u):
    with psycopg.connect(f"host=127.0.0.1 port={port} user={u} dbname=capped", autocommit=True) as c:
        c.execute("select pg_sleep(0.6)")
        done.append(u)
ts = [threading.Thread(target=run, args=(u,)) for u in ("u1", "u2", "u3", "u4")]
t0 = time.time()
for t in ts: t.start()
while any(t.is_alive() for t in ts):
    peak[0] = max(peak[0], backends()); time.sleep(0.05)
assert sorted(done) == ["u1", "u2", "u3", "u4"], done
assert peak[0] == 2, f"{peak[0]} backends for a database capped at 2"
# the last two ran after the first two, on servers taken from idle pools
assert time.time() - t0 >= 1.1, time.time() - t0
print(f"ok - max_db_connections = 2 across 4 users: peak {peak[0]} backends, all served")
PY
pgtide_wait_log "closing because: evicted: pool capped/"
ok "a server idle in another user's pool was evicted for the waiting ones"

# 3. Postgres stops; a client connects; Postgres is back a second later:
# the client waits while pgtide retries and is served (first for a pool
# that never logged in, then for one that had servers).
"$PYTHON" - "$PGTIDE_PORT" "$PGBIN/pg_ctl" "$DIR_main" "$T/pg-main.log" "$PGUSER_OS" <<'PY' || fail "restart wait"
import os, subprocess, sys, threading, time, psycopg
port, pg_ctl, pgdata, pglog, osuser = int(sys.argv[1]), *sys.argv[2:]
def ctl(*args):
    cmd = [pg_ctl, "-D", pgdata, "-l", pglog, "-w", *args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", osuser, "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
for db, user in (("app", "u1"), ("app", "u1")):
    ctl("-m", "fast", "stop")
    threading.Timer(1.0, lambda: ctl("start")).start()
    t0 = time.time()
    with psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname={db}", connect_timeout=15) as c:
        assert c.execute("select 7").fetchone()[0] == 7
    dt = time.time() - t0
    assert 0.9 < dt < 6, dt
    print(f"ok - Postgres restarted under a connecting client: served after {dt:.1f} s")
    time.sleep(0.5)
PY
pgtide_wait_log "closing because: connect failed: could not connect to server"
ok "the failed attempts are logged as PgBouncer words them (connect failed)"

# 4. The console over the unix socket, for pgtide's own OS user, as
# "pgbouncer" or "pgtide", with no admin_users entry and no password even
# under md5; over TCP the same names are ordinary users.
cat >"$T/users.txt" <<'USERS'
"alice" "md5a3556571e93b0d20722ba62be61e8c2d"
USERS
write_config "$T/md5.ini" main "auth_type = md5" "auth_file = $T/users.txt"
sed -i 's/^auth_type = trust$//' "$T/md5.ini"
pgtide_start "$T/md5.ini"
MD5_PORT=$PGTIDE_PORT
for u in pgbouncer pgtide; do
	out=$(psql -X -w -At -h "$T" -p "$MD5_PORT" -U "$u" -d pgbouncer -c "show version" 2>&1)
	assert_eq "console as $u over the unix socket" "pgtide $("$PGTIDE" --version | cut -d' ' -f2)" "$out"
done
out=$(PGPASSWORD=x psql -X -At -h 127.0.0.1 -p "$MD5_PORT" -U pgbouncer -d pgbouncer -c "show version" 2>&1)
assert_contains "console as pgbouncer over TCP needs a password" "password authentication failed" "$out"
out=$(PGPASSWORD=x psql -X -At -h "$T" -p "$MD5_PORT" -U pgbouncer -d app -c "select 1" 2>&1)
assert_contains "the peer login opens the console only" "password authentication failed" "$out"
kill -INT "$PGTIDE_PID"; wait "$PGTIDE_PID" 2>/dev/null
PGTIDE_PORT=$MAIN_PORT PGTIDE_PID=$MAIN_PID

# 5. server_fast_close: after RECONNECT a session-mode server goes between
# transactions, closing its session (57P01), rather than at the session's
# end. Without it a session keeps its server, and its state, to the end.
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "server_fast_close"
import sys, time, psycopg
port = int(sys.argv[1])
def conn(db="sess", user="postgres"):
    return psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname={db}", autocommit=True)
adm = conn("pgtide", "admin")
def pid(c): return c.execute("select pg_backend_pid()").fetchone()[0]
# off (the default): RECONNECT waits for the session's end
a, b = conn(), conn()
a.execute("create temp table keep(x int)")
b.execute("set work_mem = '3MB'")
pa, pb = pid(a), pid(b)
adm.execute("reconnect sess")
time.sleep(1.2)
assert pid(a) == pa and a.execute("select count(*) from keep").fetchone()[0] == 0
assert pid(b) == pb and b.execute("show work_mem").fetchone()[0] == "3MB"
print("ok - without server_fast_close sessions keep their servers after RECONNECT")
# on
adm.execute("set server_fast_close = 1")
adm.execute("reconnect sess")
time.sleep(1.2)
for c in (a, b):
    try:
        c.execute("select 1")
        raise SystemExit("a session survived the close of its server under server_fast_close")
    except psycopg.OperationalError as e:
        pass
print("ok - server_fast_close: idle sessions are closed with their servers")
adm.execute("set server_fast_close = 0")
PY
pgtide_wait_log "database configuration changed (server_fast_close)"

# 6. PgBouncer's words in the log, for the events tools grep for.
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "reserve pool"
import sys, threading, time, psycopg
port = int(sys.argv[1])
cs = [psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=rsv", autocommit=True) for _ in range(3)]
ts = [threading.Thread(target=lambda c=c: c.execute("select pg_sleep(0.8)")) for c in cs]
for t in ts: t.start()
for t in ts: t.join()
PY
pgtide_wait_log "taking connection from reserve_pool (1 of reserve_pool_size 2)"
pgtide_wait_log "taking connection from reserve_pool (2 of reserve_pool_size 2)"
ok "each server taken from the reserve pool is logged once"
assert_contains "new server connections" "new connection to server (from 127.0.0.1:" "$(cat "$T/pgtide.log")"
assert_eq "an auto-database" "1" "$(TDB=template1 tsql -c 'select 1')"
pgtide_wait_log "registered new auto-database: template1"
out=$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres -d nosuch -c 'select 1' 2>&1)
pgtide_wait_log "closing because: .*does not exist.*login failed"
ok "a failed login is logged as closing because: ... (login failed)"
# a client's words cannot forge a log line
PGAPPNAME=$'x\n2026-01-01 00:00:00.000 UTC [1] LOG forged' tsql -c "select 1" >/dev/null
psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U $'evil\nLOG forged-user' -d app -c 'select 1' >/dev/null 2>&1
grep -q '^2026-01-01 00:00:00.000 UTC \[1\] LOG forged' "$T/pgtide.log" && fail "a client forged a log line"
grep -q '^LOG forged-user' "$T/pgtide.log" && fail "a user name forged a log line"
grep -q 'evil?LOG forged-user' "$T/pgtide.log" || fail "the user name was not logged, defanged"
ok "newlines in client-supplied names are logged as ?"

# 7. pgtide -R (PgBouncer's socket takeover) is refused, pointing at the
# way pgtide restarts
out=$("$PGTIDE" -R "$T/pgtide.ini" 2>&1)
rc=$?
assert_eq "-R exits with 2" "2" "$rc"
assert_contains "-R names so_reuseport" "so_reuseport" "$out"

echo "# t_compat done"
