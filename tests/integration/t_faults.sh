#!/bin/bash
# Hostile message sequences and faults: pgtide stays up, a server goes back
# to a pool only in a clean protocol state, and each fault costs only what
# it hit (README "Faults and restarts").
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
SQL
write_config "$T/one.ini" main "default_pool_size = 1" "max_client_conn = 200" "server_login_retry = 1" \
	"server_connect_timeout = 2" "query_wait_timeout = 30"
pgtide_start "$T/one.ini"
ONE=$PGTIDE_PORT
ONE_PID=$PGTIDE_PID

# 1. A client leaves its server waiting for a Sync (an error in an extended
# group, then a Query that Postgres discards while it waits, then Terminate):
# the next client on the one server is answered at once.
"$PYTHON" - "$ONE" <<'PY' || fail "a server left waiting for a Sync"
import sys, struct, time
from rawclient import Conn, msg, query, error_fields
port = int(sys.argv[1])
a = Conn(port); a.login()
a.send(msg("E", b"nope\0" + struct.pack("!I", 0)) + msg("H"))
msgs, last = a.read_until("E")
assert last and error_fields(last[1])["C"] == "34000", msgs
a.send(query("SELECT 1"))   # Postgres discards it: it waits for a Sync
time.sleep(0.2)
a.send(msg("X")); a.close()
b = Conn(port, timeout=5); b.login()
t0 = time.time()
b.send(query("SELECT 42"))
msgs, last = b.read_until("Z")
rows = [m for m in msgs if m[0] == "D"]
assert rows and rows[0][1].endswith(b"42"), msgs
print(f"ok - the next client was answered in {time.time() - t0:.2f} s")
PY

# 2. Two pipelined groups, an error in the first after its Sync was
# already sent: the second group's replies (a CloseComplete among them)
# are matched to it, and the server serves the next client correctly.
"$PYTHON" - "$ONE" <<'PY' || fail "pipelined groups after an error"
import sys, struct
from rawclient import Conn, msg, query, error_fields
port = int(sys.argv[1])
def P(name, sql): return msg("P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
def B(portal, stmt): return msg("B", portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!HHH", 0, 0, 0))
def E(portal): return msg("E", portal.encode() + b"\0" + struct.pack("!I", 0))
def C(kind, name): return msg("C", kind.encode() + name.encode() + b"\0")
S = msg("S")
c = Conn(port); c.login()
c.send(P("", "SELECT 1/(random() * 0)::int") + B("", "") + E("") + S +
       P("", "SELECT 7") + B("p1", "") + E("p1") + C("P", "p1") + S)
msgs, last = c.read_until("Z")
assert [m[0] for m in msgs] == ["1", "2", "E", "Z"], msgs
assert error_fields(msgs[2][1])["C"] == "22012"
msgs, last = c.read_until("Z")
assert [m[0] for m in msgs] == ["1", "2", "D", "C", "3", "Z"], msgs
c.send(query("SELECT count(*) FROM t"))
msgs, _ = c.read_until("Z")
assert [m for m in msgs if m[0] == "D"][0][1].endswith(b"100"), msgs
c.send(msg("X")); c.close()
d = Conn(port); d.login()
d.send(query("SELECT 5"))
msgs, _ = d.read_until("Z")
assert [m for m in msgs if m[0] == "D"][0][1].endswith(b"5"), msgs
print("ok - replies stay matched to their groups across an error")
PY
# 2b. A backend killed mid COPY IN inside a block: the client gets the
# error, and an extended-protocol ROLLBACK (psycopg, pgjdbc) ends the block
# ('I'), so the next transaction starts clean.
"$PYTHON" - "$ONE" "$PORT_main" <<'PY' || fail "ROLLBACK after a server lost mid-COPY"
import sys, time, psycopg
from rawclient import Conn, msg, query
port, pgport = int(sys.argv[1]), int(sys.argv[2])
c = Conn(port); c.login()
c.send(query("BEGIN")); c.read_until("Z")
c.send(query("COPY t (id, v) FROM STDIN")); c.read_until("G")
c.send(b"".join(msg("d", f"{1000 + i}\tx\n".encode()) for i in range(50)))
with psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres", autocommit=True) as d:
    d.execute("select pg_terminate_backend(pid) from pg_stat_activity where query like 'COPY t %'")
msgs, last = c.read_until("Z")
assert last == ("Z", b"E"), msgs
c.send(msg("c"))   # the client ends its COPY; nothing is left to answer it
c.send(msg("P", b"\0ROLLBACK\0\0\0") + msg("B", b"\0\0\0\0\0\0\0\0") + msg("E", b"\0\0\0\0\0") + msg("S"))
msgs, last = c.read_until("Z")
assert [m[0] for m in msgs] == ["1", "2", "C", "Z"] and last == ("Z", b"I"), msgs
c.send(query("SELECT count(*) FROM t")); msgs, _ = c.read_until("Z")
assert [m for m in msgs if m[0] == "D"][0][1].endswith(b"100"), msgs
print("ok - a server lost mid-COPY in a block: extended ROLLBACK ends the block ('I')")
PY
kill -0 "$PGTIDE_PID" || fail "pgtide died"

# 3. The primary restarts under load (pg_ctl restart -m fast, then stop -m
# immediate and start): six psycopg 3 clients loop transactions and
# reconnect only when their connection is closed. Only transactions that
# were running when the servers died fail; every client is back within
# server_login_retry, and none is left in a failed-transaction state.
write_config "$T/six.ini" main "default_pool_size = 4" "max_client_conn = 200" "server_login_retry = 1" \
	"query_wait_timeout = 30" "logfile = $T/pgtide-six-file.log"
pgtide_start "$T/six.ini"
SIX=$PGTIDE_PORT
"$PYTHON" - "$SIX" "$PGTIDE_PORT" <<'PY' >"$T/restart.py.out" 2>&1 &
import sys, threading, time, psycopg, json
port = int(sys.argv[1])
stop = time.time() + 14
log = []
lock = threading.Lock()
def worker(i):
    conn = None
    while time.time() < stop:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app")
            with conn.transaction():
                conn.execute("SELECT count(*) FROM t").fetchone()
                conn.execute("SELECT pg_sleep(0.01)")
            with lock: log.append((time.time(), i, "ok", ""))
        except psycopg.Error as e:
            with lock: log.append((time.time(), i, "err", f"{e.sqlstate} {str(e).splitlines()[0]}"))
            time.sleep(0.05)
threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(log))
PY
LOADPID=$!
sleep 2
as_pg pg_ctl -D "$DIR_main" -m fast -w restart >/dev/null 2>&1 || fail "restart"
sleep 3
as_pg pg_ctl -D "$DIR_main" -m immediate -w stop >/dev/null 2>&1
sleep 1
as_pg pg_ctl -D "$DIR_main" -l "$T/pg-main.log" -w start >/dev/null 2>&1 || fail "start again"
UP=$(date +%s.%N)
wait $LOADPID || { cat "$T/restart.py.out"; fail "load script"; }
"$PYTHON" - "$T/restart.py.out" "$UP" <<'PY' || fail "recovery after the primary restarted"
import sys, json
log = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
up = float(sys.argv[2])
# back within server_login_retry (1 s) of the primary accepting again
for i in range(6):
    first = min((e[0] for e in log if e[1] == i and e[2] == "ok" and e[0] > up), default=None)
    assert first is not None and first - up < 1 + 1.5, f"client {i} first succeeded {first and first - up:.2f} s after the restart"
errs = [e for e in log if e[2] == "err"]
oks = [e for e in log if e[2] == "ok"]
last_err = max((e[0] for e in errs), default=0)
# every client succeeds again after the last error
for i in range(6):
    after = [e for e in log if e[1] == i and e[0] > last_err and e[2] == "ok"]
    assert after, f"client {i} never recovered"
stuck = [e for e in errs if e[3].startswith("25P02")]
assert not stuck, f"{len(stuck)} transactions failed with 25P02 (a failed state out of step): {stuck[:3]}"
print(f"ok - primary restarted twice under load: {len(oks)} transactions ran, {len(errs)} failed "
      f"({', '.join(sorted(set(e[3][:5] for e in errs)))}), every client back within server_login_retry")
PY
kill -0 "$PGTIDE_PID" || fail "pgtide died"

# 4. A server that accepts the TCP connection and never answers:
# server_connect_timeout ends each attempt; the client waits while pgtide
# retries (as in PgBouncer), up to query_wait_timeout, and then hears both
# limits.
SILENT=$(free_port)
"$PYTHON" - "$SILENT" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
end = time.time() + 30
s.settimeout(0.5)
while time.time() < end:
    try:
        held.append(s.accept()[0])   # accept, say nothing
    except socket.timeout:
        pass
PY
PIDS+=($!)
for _ in $(seq 50); do "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1',$SILENT),0.2)" 2>/dev/null && break; sleep 0.1; done
cat >>"$T/one.ini" <<EOF2
[databases]
silent = host=127.0.0.1 port=$SILENT dbname=x
EOF2
kill -HUP "$ONE_PID"
pgtide_wait_log "configuration reloaded"
psql -X -q -h 127.0.0.1 -p "$ONE" -U admin pgtide -c "set query_wait_timeout = 5" || fail "SET query_wait_timeout"
start=$(date +%s.%N)
out=$(psql -X -At "host=127.0.0.1 port=$ONE user=postgres dbname=silent connect_timeout=20" -c 'select 1' 2>&1)
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
assert_contains "a silent server: the client hears query_wait_timeout" "query_wait_timeout (5 s) reached" "$out"
assert_contains "... and why no server came" "connect timeout (server_connect_timeout 2 s)" "$out"
# not before its time (the message above names the limit that ended it)
[ "$(echo "$elapsed > 4.5" | bc)" = 1 ] || fail "query_wait_timeout = 5 ended the wait after $elapsed s"
ok "... after ${elapsed%??????} s"
psql -X -q -h 127.0.0.1 -p "$ONE" -U admin pgtide -c "set query_wait_timeout = 30" || fail "SET query_wait_timeout"

# 5. A client that stops reading a large result: pgtide reads the server
# only as fast as the client takes it (its memory stays bounded), and the
# server is freed when the client goes.
"$PYTHON" - "$ONE" "$ONE_PID" <<'PY' || fail "backpressure"
import sys, time, socket
from rawclient import Conn, query
port, pid = int(sys.argv[1]), int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
c = Conn(port); c.login()
c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
c.send(query("SELECT repeat('x', 1000) FROM generate_series(1, 1000000)"))   # about 1 GB
peak = 0
for _ in range(30):
    time.sleep(0.1)
    peak = max(peak, rss())
print(f"ok - a client that reads nothing: pgtide RSS peaked at {peak // 1024} MB while the server has 1 GB to send")
assert peak < 80 * 1024, f"RSS grew to {peak} kB"
c.close()
PY
for _ in $(seq 50); do
	n=$(pgsql main -c "select count(*) from pg_stat_activity where query like 'SELECT repeat%'")
	[ "$n" = 0 ] && break
	sleep 0.1
done
assert_eq "the server running it is gone once the client left" "0" "$n"

# 6. A client that vanishes mid-transaction holding locks: nothing stays.
"$PYTHON" - "$ONE" <<'PY' || fail "client vanishing"
import sys, os, psycopg
port = int(sys.argv[1])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app")
c.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
c.execute("SELECT pg_advisory_xact_lock(7)")
os.close(c.pgconn.socket)   # gone without a word
os._exit(0)
PY
for _ in $(seq 50); do
	n=$(pgsql main -c "select count(*) from pg_locks where locktype = 'advisory' or (locktype = 'relation' and relation = 't'::regclass and mode = 'AccessExclusiveLock')")
	it=$(pgsql main -c "select count(*) from pg_stat_activity where state like 'idle in transaction%'")
	[ "$n" = 0 ] && [ "$it" = 0 ] && break
	sleep 0.1
done
assert_eq "a vanished client leaves no lock" "0" "$n"
assert_eq "... and no open transaction" "0" "$it"
assert_eq "the table is usable" "100" "$(psql -X -At -h 127.0.0.1 -p "$ONE" -U postgres app -c 'select count(*) from t')"

# 7. Out of file descriptors: pgtide under a limit of 64 open files, 120
# clients arriving. Those it cannot take get an error (or a closed
# socket), it does not crash or spin, and a client it holds goes on.
write_config "$T/fd.ini" main "default_pool_size = 2" "max_client_conn = 1000" "logfile = $T/pgtide-fd-file.log"
PGTIDE_LIMIT=64
(ulimit -n $PGTIDE_LIMIT && exec "$PGTIDE" "$T/fd.ini" >>"$T/pgtide-fd.log" 2>&1) &
FDPID=$!
PIDS+=("$FDPID")
FDPORT=$PGTIDE_PORT
for _ in $(seq 50); do "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1',$FDPORT),0.2)" 2>/dev/null && break; sleep 0.1; done
"$PYTHON" - "$FDPORT" "$FDPID" <<'PY' || fail "out of file descriptors"
import sys, time, psycopg
from rawclient import Conn, error_fields
port, pid = int(sys.argv[1]), int(sys.argv[2])
keep = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app", autocommit=True)
conns, refused, errors = [], 0, {}
for i in range(120):
    try:
        c = Conn(port, timeout=3)
        msgs, last = c.login()
        if last and last[0] == "E":
            errors[error_fields(last[1]).get("C")] = errors.get(error_fields(last[1]).get("C"), 0) + 1
            refused += 1
        elif last is None:
            refused += 1
        else:
            conns.append(c)
    except OSError:
        refused += 1
def cpu():
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return int(f[11]) + int(f[12])
c0 = cpu(); time.sleep(1); spin = cpu() - c0
assert refused > 0, "the limit was never reached"
assert keep.execute("select 41 + 1").fetchone()[0] == 42, "the held client lost its connection"
assert spin < 30, f"pgtide used {spin} ticks of CPU in a second at the limit"
print(f"ok - at 64 open files: {len(conns)} clients in, {refused} refused {errors}, "
      f"a held client's query ran, {spin} CPU ticks/s")
for c in conns: c.close()
PY
kill -0 "$FDPID" || fail "pgtide died at the file limit"
kill -0 "$PGTIDE_PID" || fail "pgtide died"
