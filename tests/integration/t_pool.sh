#!/bin/bash
# Transaction pooling under load, limits, hostile bytes, a backend killed
# mid-transaction, and parameters that follow clients across servers.
. "$(dirname "$0")/lib.sh"

pg_start main
write_config "$T/pgtide.ini" main "default_pool_size = 5" "max_client_conn = 60" \
	"log_connections = 0" "log_disconnections = 0"
pgtide_start "$T/pgtide.ini"
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"

for mode in simple extended; do
	out=$(pgbench -n -c 50 -j 2 -t 20 -M $mode -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app 2>&1)
	failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	done_=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\)\/.*/\1/p')
	[ "$done_" = 1000 ] || fail "pgbench -M $mode did not run all 1000 transactions: $out"
	assert_eq "pgbench -M $mode, 50 clients on 5 servers: failed transactions" "0" "$failed"
done
servers=$(pgsql main -c "select count(*) from pg_stat_activity where datname='postgres' and backend_type='client backend' and application_name <> 'psql'")
[ "$servers" -le 6 ] || fail "more server connections than default_pool_size: $servers"
ok "server connections stay within the pool ($servers)"

# max_client_conn: the 61st client is refused with 53300 while 60 hold on
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "max_client_conn"
import sys
from rawclient import Conn, error_fields
port = int(sys.argv[1])
held = []
for i in range(60):
    c = Conn(port)
    msgs, last = c.login()
    assert last and last[0] == "Z", (i, msgs)
    held.append(c)
c = Conn(port)
msgs, last = c.login()
assert last and last[0] == "E", msgs
f = error_fields(last[1])
assert f["C"] == "53300", f
assert "max_client_conn=60" in f["M"], f
assert f["S"] == "FATAL"
for c in held:
    c.close()
PY
ok "max_client_conn exceeded: FATAL 53300 naming the limit"

# Hostile bytes from some clients while others run transactions.
pgbench -n -c 4 -j 1 -T 6 -S -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app >"$T/bg.out" 2>&1 &
BG=$!
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "hostile clients"
import os, random, socket, struct, sys, time
from rawclient import Conn, startup_packet, msg, query, error_fields
port = int(sys.argv[1])
random.seed(7)

def expect_fatal(c, code):
    msgs, last = c.read_until("EZ")
    assert last is not None and last[0] == "E", msgs
    f = error_fields(last[1])
    assert f["C"] == code, f
    return f

# garbage instead of a startup packet
for i in range(30):
    c = Conn(port)
    c.send(os.urandom(random.randint(1, 3000)))
    try:
        c.s.settimeout(5)
        while c.s.recv(4096):
            pass
    except OSError:
        pass
    c.close()
# startup packet lengths out of range, unknown protocol
for pkt in [struct.pack("!II", 4, 196608), struct.pack("!II", 100000, 196608), struct.pack("!II", 8, 131072) ]:
    c = Conn(port); c.send(pkt); expect_fatal(c, "08P01"); c.close()
# a message with a length below 4 after login
c = Conn(port); msgs, last = c.login(); assert last[0] == "Z"
c.send(b"Q\0\0\0\x02"); expect_fatal(c, "08P01"); c.close()
# an unknown message type
c = Conn(port); c.login(); c.send(msg("y", b"abc")); expect_fatal(c, "08P01"); c.close()
# a password message after login
c = Conn(port); c.login(); c.send(msg("p", b"secret\0")); expect_fatal(c, "08P01"); c.close()
# truncated query then hang up
c = Conn(port); c.login(); c.send(b"Q\0\0\0\x20sel"); c.close()
# random typed messages after login
for i in range(30):
    c = Conn(port); c.login()
    c.send(bytes([random.choice(b"QPBDECSHFdcfXp")]) + os.urandom(random.randint(0, 200)))
    c.s.settimeout(3)
    try:
        while c.s.recv(4096):
            pass
    except OSError:
        pass
    c.close()
# a query message whose text has no terminator
c = Conn(port); c.login(); c.send(msg("Q", b"select 1")); msgs, last = c.read_until("EZ")
c.close()
# a huge declared length (1 GB) with nothing behind it, then hang up
c = Conn(port); c.login(); c.send(b"Q" + struct.pack("!I", 1 << 30)); time.sleep(0.2); c.close()
# the connection still works for a well-behaved client
c = Conn(port); msgs, last = c.login(); assert last[0] == "Z"
c.send(query("select 41+1")); msgs, last = c.read_until("Z")
rows = [m for m in msgs if m[0] == "D"]
assert rows and rows[0][1].endswith(b"42"), msgs
PY
wait "$BG"
bgfail=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$T/bg.out")
assert_eq "hostile clients: pgbench alongside saw no failures" "0" "$bgfail"
kill -0 "$PGTIDE_PID" || fail "pgtide died under hostile input"
ok "pgtide survived hostile input"

# A backend killed in the middle of a transaction: the client gets an ERROR,
# keeps its connection, ROLLBACK ends the failed transaction, and the next
# transaction runs on another server.
"$PYTHON" - "$PGTIDE_PORT" "$PORT_main" <<'PY' || fail "killed backend"
import sys, psycopg
port, pgport = int(sys.argv[1]), int(sys.argv[2])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app", autocommit=True)
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres", autocommit=True)
c.execute("begin")
pid = c.execute("select pg_backend_pid()").fetchone()[0]
admin.execute("select pg_terminate_backend(%s)", (pid,))
import time; time.sleep(0.3)
try:
    c.execute("select 1")
    raise SystemExit("no error after the backend was killed")
except psycopg.Error as e:
    assert e.sqlstate in ("08006", "57P01"), e.sqlstate
assert not c.closed
try:
    c.execute("select 2")
    raise SystemExit("statement ran in an aborted transaction")
except psycopg.Error as e:
    assert e.sqlstate == "25P02", e.sqlstate
c.execute("rollback")
assert c.info.transaction_status == 0  # idle
pid2 = c.execute("select pg_backend_pid()").fetchone()[0]
assert pid2 != pid
assert c.execute("select 3").fetchone()[0] == 3
# the same while a query is running (outside a transaction block)
cur = c.cursor()
import threading
def kill():
    time.sleep(0.5)
    p = admin.execute("select pid from pg_stat_activity where query like 'select pg_sleep(5)%'").fetchone()
    admin.execute("select pg_terminate_backend(%s)", (p[0],))
t = threading.Thread(target=kill); t.start()
try:
    cur.execute("select pg_sleep(5)")
    raise SystemExit("no error")
except psycopg.Error as e:
    assert e.sqlstate in ("08006", "57P01"), e.sqlstate
t.join()
assert c.execute("select 4").fetchone()[0] == 4
PY
ok "killed backend: non-fatal error, connection kept, next transaction on a new server"

# Session parameters follow the client to whichever server it lands on.
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "parameters"
import sys, psycopg
port = int(sys.argv[1])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"
a = psycopg.connect(ci + " application_name=alpha options='-c DateStyle=German'", autocommit=True, prepare_threshold=None)
b = psycopg.connect(ci + " application_name=beta", autocommit=True, prepare_threshold=None)
b.execute("set timezone = 'Asia/Tokyo'")
b.execute("set intervalstyle = 'iso_8601'")
for i in range(50):
    assert a.execute("show application_name").fetchone()[0] == "alpha"
    assert a.execute("show datestyle").fetchone()[0].startswith("German")
    assert a.execute("show timezone").fetchone()[0] != "Asia/Tokyo"
    assert b.execute("show application_name").fetchone()[0] == "beta"
    assert b.execute("show timezone").fetchone()[0] == "Asia/Tokyo"
    assert b.execute("show intervalstyle").fetchone()[0] == "iso_8601"
    assert a.execute("show intervalstyle").fetchone()[0] == "postgres"
assert a.info.parameter_status("application_name") == "alpha"
assert b.info.parameter_status("TimeZone") == "Asia/Tokyo"
PY
ok "application_name, DateStyle, TimeZone, IntervalStyle stay per client across servers"
