#!/bin/bash
# Every timeout: what the client sees (SQLSTATE, message naming the
# setting) and that pgtide goes on serving everyone else.
. "$(dirname "$0")/lib.sh"

pg_start main
# A "server" that accepts and never answers, for server_connect_timeout.
SILENT_PORT=$(free_port)
"$PYTHON" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $SILENT_PORT)); s.listen(16)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
" &
PIDS+=($!)
disown
DEAD_PORT=$(free_port)

write_config "$T/pgtide.ini" main "default_pool_size = 1" "query_wait_timeout = 1" \
	"idle_transaction_timeout = 1" "query_timeout = 1" "server_connect_timeout = 1" \
	"server_login_retry = 1" "server_idle_timeout = 1" "client_login_timeout = 2" \
	"[databases]" "silent = host=127.0.0.1 port=$SILENT_PORT dbname=x" \
	"dead = host=127.0.0.1 port=$DEAD_PORT dbname=x"
pgtide_start "$T/pgtide.ini"

"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "timeouts"
import sys, time, threading, psycopg
port = int(sys.argv[1])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"

def conn(**kw):
    return psycopg.connect(ci, autocommit=True, prepare_threshold=None, **kw)

def expect(code, fn, what):
    try:
        fn()
    except psycopg.Error as e:
        assert e.sqlstate == code, (what, e.sqlstate, str(e))
        return str(e)
    raise SystemExit(f"{what}: no error")

# query_timeout: a long query is canceled by pgtide, the client stays
c = conn()
t0 = time.time()
msg = expect("57014", lambda: c.execute("select pg_sleep(10)"), "query_timeout")
assert "query_timeout (1 s)" in msg, msg  # pgtide's words: its cancel ended it, not the sleep
assert time.time() - t0 > 0.9, time.time() - t0  # not before its time
assert c.execute("select 1").fetchone()[0] == 1
print("ok - query_timeout cancels the query (57014, naming query_timeout), connection kept")
# the client's own cancel keeps Postgres's words
import threading as _t
c2 = conn()
_t.Timer(0.3, c2.cancel).start()
msg = expect("57014", lambda: c2.execute("select pg_sleep(0.9)"), "own cancel")
assert "user request" in msg, msg
print("ok - a client's own cancel still says user request")

# query_wait_timeout: pool of 1 busy, a second client waits and gives up
busy = conn()
th = threading.Thread(target=lambda: busy.execute("select pg_sleep(0.8), pg_sleep(0.8)"))
th.start(); time.sleep(0.2)
waiter = conn()
# the busy query lasts 1.6 s, more than query_timeout=1: it is canceled; so
# hold the server with an idle transaction instead
th.join()
holder = psycopg.connect(ci, prepare_threshold=None)
holder.execute("select 1")  # transaction open, server held
t0 = time.time()
msg = expect("57014", lambda: waiter.execute("select 2"), "query_wait_timeout")
assert "query_wait_timeout" in msg, msg
assert time.time() - t0 > 0.9, time.time() - t0  # not before its time
print("ok - query_wait_timeout: 57014 naming the setting")

# idle_transaction_timeout: the holder sat in its transaction for >1 s
time.sleep(0.5)
try:
    holder.execute("select 3")
    raise SystemExit("idle transaction survived")
except psycopg.Error as e:
    assert "idle_transaction_timeout" in str(e), (e.sqlstate, str(e))
print("ok - idle_transaction_timeout ends the idle transaction")
# the server it held is free again; the waiter's connection is fine
assert waiter.execute("select 4").fetchone()[0] == 4
print("ok - connection usable after query_wait_timeout")

# server_connect_timeout: a server that never answers. As in PgBouncer the
# client waits while pgtide retries, up to query_wait_timeout, and is told
# which limit ended the wait
t0 = time.time()
try:
    psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=silent", connect_timeout=10)
    raise SystemExit("connected to a silent server")
except psycopg.OperationalError as e:
    assert "query_wait_timeout (1 s) reached waiting for a server connection" in str(e), str(e)
assert time.time() - t0 > 0.9  # the wait, not connect_timeout (10 s), ended it: the message says so
print("ok - a silent server: the wait ends at query_wait_timeout, named")

# a dead server: the same, and the client learns why no server came
t0 = time.time()
try:
    psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=dead", connect_timeout=10)
    raise SystemExit("connected to a dead server")
except psycopg.OperationalError as e:
    assert "query_wait_timeout" in str(e) and "could not connect to server" in str(e), str(e)
print("ok - connection refused by the server is reported to the client")
PY
pgtide_wait_log "closing because: connect timeout (server_connect_timeout 1 s)"
ok "the log says connect timeout, in PgBouncer's words, and names the setting"

# server_idle_timeout: idle servers go away after a second. A server is
# made first and seen, so that "none left" proves the timeout, not that
# there was never one.
backends() {
	pgsql main -c "select count(*) from pg_stat_activity where datname='postgres' and backend_type='client backend' and pid <> pg_backend_pid()"
}
idle_closes() { grep -c "closing because: server_idle_timeout (1 s) reached" "$T/pgtide.log"; }
idle_more() { [ "$(idle_closes)" -gt "$1" ]; }
no_backends() { [ "$(backends)" = 0 ]; }
before=$(idle_closes)
tsql -c "select 1" >/dev/null || fail "a query to make a server"
wait_for 10 "the server made now was closed by server_idle_timeout, named in the log" idle_more "$before"
ok "the log says server_idle_timeout, naming the setting"
wait_for 10 "server_idle_timeout closed idle servers" no_backends
ok "server_idle_timeout closed idle servers"

# client_login_timeout: a client that never finishes its startup packet
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "client_login_timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\0\0\0\x50")  # promises 80 bytes, sends 4
t0 = time.time(); s.settimeout(10)
data = s.recv(4096)
while data and b"client_login_timeout" not in data:
    more = s.recv(4096)
    if not more: break
    data += more
assert b"client_login_timeout" in data, data
assert time.time() - t0 > 0.9  # not before its time; the message names the limit that ended it
PY
ok "client_login_timeout closes a stalled login with a message"

# client_idle_timeout and server_lifetime
write_config "$T/p2.ini" main "client_idle_timeout = 1" "server_lifetime = 1" "server_idle_timeout = 0"
pgtide_start "$T/p2.ini"
assert_eq "first query" "1" "$(tsql -c 'select 1')"
out=$("$TESTBIN/pqtool" hold "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" 2)
assert_contains "client_idle_timeout closes an idle client" "client_idle_timeout" "$out"
pid1=$(tsql -c 'select pg_backend_pid()')
sleep 1.5
tsql -c 'select 1' >/dev/null
sleep 0.2
pid2=$(tsql -c 'select pg_backend_pid()')
[ "$pid1" != "$pid2" ] || fail "server_lifetime: same backend $pid1 after its lifetime"
ok "server_lifetime replaces old servers"
kill -0 "$PGTIDE_PID" || fail "pgtide died"
