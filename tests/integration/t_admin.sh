#!/bin/bash
# The admin console and the metrics endpoint: PgBouncer 1.18's columns,
# statistics that move with traffic, rights, every command, RELOAD under
# load, PAUSE/RESUME with waiting clients, /metrics, and Debian's
# prometheus-pgbouncer-exporter scraping the console.
. "$(dirname "$0")/lib.sh"

pg_start main
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PORT_main" -U postgres postgres >/dev/null 2>&1 || fail "pgbench -i"
METRICS=$(free_port)
ADMINPORT=$(free_port)
write_config "$T/pgtide.ini" main "default_pool_size = 3" "max_client_conn = 200" \
	"admin_users = admin, postgres" "stats_users = stats" "metrics_port = $METRICS" \
	"metrics_top_tenants = 2" "admin_listen_port = $ADMINPORT" "log_connections = 0" "log_disconnections = 0"
sed -i '/^admin_users = admin$/d' "$T/pgtide.ini"
sed -i "/^app = /a one = host=127.0.0.1 port=$PORT_main dbname=postgres pool_size=1" "$T/pgtide.ini"
pgtide_start "$T/pgtide.ini"
adm() { psql -X -q -At -F '|' -h 127.0.0.1 -p "$PGTIDE_PORT" -U "${AUSER:-admin}" pgtide -c "$1" 2>&1; }

# column names, order and types against the recorded PgBouncer 1.18 lists
"$PYTHON" - "$PGTIDE_PORT" "$srcdir/tests/integration/pgbouncer118_columns.txt" <<'PY' || fail "columns"
import sys, psycopg2
port, ref = int(sys.argv[1]), sys.argv[2]
c = psycopg2.connect(host="127.0.0.1", port=port, user="admin", dbname="pgbouncer")
c.autocommit = True
cur = c.cursor()
for line in open(ref):
    if line.startswith("#") or not line.strip():
        continue
    cmd, *cols = line.split()
    cur.execute("SHOW " + cmd)
    got = [f"{d.name}:{d.type_code}" for d in cur.description]
    assert got[:len(cols)] == cols, (cmd, got, cols)
cur.execute("SHOW TENANTS")
assert [d.name for d in cur.description] == ["tenant", "clients", "transactions", "queries", "avg_transaction_time",
                                             "waiting", "servers", "wait_time", "max_wait", "weight",
                                             "refused_connections", "held_by_servers", "held_by_rate",
                                             "ryw_replica_reads", "ryw_waited_reads", "ryw_wait_time", "ryw_primary_reads"]
cur.execute("SHOW REPLICAS")
assert [d.name for d in cur.description] == ["database", "host", "port", "state", "lag_bytes", "transactions", "last_check", "reason", "ryw_reads"]
cur.execute("SHOW HOSTS")
assert [d.name for d in cur.description] == ["database", "host", "port", "role", "state", "lag_bytes", "transactions",
                                             "last_check", "failures", "reason", "ryw_reads"]
cur.execute("SHOW STATE")
assert dict(cur.fetchall())["active"] == "yes"
cur.execute("show help")
assert any("SHOW" in n for n in c.notices)
PY
ok "every SHOW has PgBouncer 1.18's columns, in order, with its types"

# statistics move after known traffic
before=$(adm "show stats_totals" | grep '^app|')
for i in $(seq 20); do psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c "select $i" >/dev/null; done
after=$(adm "show stats_totals" | grep '^app|')
"$PYTHON" - "$before" "$after" <<'PY' || fail "stats"
import sys
b = [int(x) for x in sys.argv[1].split("|")[1:]]
a = [int(x) for x in sys.argv[2].split("|")[1:]]
assert a[0] - b[0] >= 20, ("xact_count", b, a)
assert a[1] - b[1] >= 20, ("query_count", b, a)
assert a[2] - b[2] >= 20 * 14, ("bytes_received", b, a)
assert a[3] - b[3] >= 20 * 30, ("bytes_sent", b, a)
assert a[4] > b[4] and a[5] > b[5], ("times", b, a)
PY
ok "SHOW STATS_TOTALS counts 20 transactions, their queries and bytes"
# a message that waits for a server is counted once (the client's chain
# of stages runs again when the server comes)
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "bytes_received of a waiting message"
import sys, threading, time, psycopg2
port = int(sys.argv[1])
adm = psycopg2.connect(host="127.0.0.1", port=port, user="admin", dbname="pgbouncer")
adm.autocommit = True
cur = adm.cursor()
def show(cmd, col):
    cur.execute(cmd)
    names = [d.name for d in cur.description]
    return next(int(dict(zip(names, r))[col]) for r in cur.fetchall() if r[0] == "one")
a = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="one")
b = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="one")
a.autocommit = b.autocommit = True
before = show("SHOW STATS_TOTALS", "bytes_received")
a.cursor().execute("begin")
t = threading.Thread(target=lambda: b.cursor().execute("select 2"))
t.start()
for _ in range(200):
    if show("SHOW POOLS", "cl_waiting") == 1:
        break
    time.sleep(0.05)
else:
    raise SystemExit("the second client never waited")
a.cursor().execute("commit")
t.join()
delta = show("SHOW STATS_TOTALS", "bytes_received") - before
# Query messages: 5 bytes of header, the text, its NUL
want = sum(5 + len(q) + 1 for q in ("begin", "select 2", "commit"))
assert delta == want, (delta, want)
PY
ok "bytes_received counts a message that waited for a server once"
tot=$(adm "show totals" | grep '^total_xact_count|' | cut -d'|' -f2)
stx=$(adm "show stats_totals" | awk -F'|' '{s += $2} END {print s}')
assert_eq "SHOW TOTALS: transactions of every database, summed" "$stx" "$tot"
assert_eq "SHOW DNS_ZONES: PgBouncer's columns" "zonename|serial|count" \
	"$(psql -X -q -A -F '|' -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c 'show dns_zones' | head -1)"
assert_contains "SHOW POOLS lists the pool" "app|postgres|" "$(adm 'show pools')"
assert_contains "SHOW DATABASES lists app" "app|127.0.0.1|$PORT_main|postgres|" "$(adm 'show databases')"
assert_contains "SHOW CLIENTS shows this console session" "C|admin|pgtide|active|127.0.0.1|" "$(adm 'show clients')"
assert_contains "SHOW SERVERS shows a server" "S|postgres|app|idle|127.0.0.1|$PORT_main|" "$(adm 'show servers')"
assert_contains "SHOW CONFIG shows a setting" "default_pool_size|3|20|yes" "$(adm 'show config')"
assert_contains "SHOW USERS" "postgres|" "$(adm 'show users')"
assert_contains "SHOW LISTS" "pools|" "$(adm 'show lists')"
assert_contains "SHOW MEM" "iobuf_cache|" "$(adm 'show mem')"
# SHOW SOCKETS: PgBouncer's buffer columns after its connection columns;
# ACTIVE_SOCKETS: a client that asked for 20 MB and reads none of it is
# there, with bytes waiting to be sent to it
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "SHOW SOCKETS"
import socket, struct, sys, time, psycopg2
port = int(sys.argv[1])
adm = psycopg2.connect(host="127.0.0.1", port=port, user="admin", dbname="pgbouncer")
adm.autocommit = True
cur = adm.cursor()
cur.execute("SHOW SOCKETS")
names = [d.name for d in cur.description]
assert names[16:25] == ["tls", "application_name", "recv_pos", "pkt_pos", "pkt_remain", "send_pos",
                        "send_remain", "pkt_avail", "send_avail"], names
assert any(r[0] == "S" for r in cur.fetchall()), "no server in SHOW SOCKETS"
s = socket.create_connection(("127.0.0.1", port))
body = b"user\0postgres\0database\0app\0application_name\0nonreader\0\0"
s.sendall(struct.pack("!ii", 8 + len(body), 196608) + body)
buf = b""
while not buf.endswith(b"Z\0\0\0\x05I"):
    buf += s.recv(65536)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
q = b"select repeat('x', 1000) from generate_series(1, 20000)\0"
s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
for _ in range(200):
    cur.execute("SHOW ACTIVE_SOCKETS")
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    mine = [r for r in rows if r["type"] == "C" and r["application_name"] == "nonreader"]
    if mine and int(mine[0]["send_remain"]) > 0:
        break
    time.sleep(0.05)
else:
    raise SystemExit("the non-reading client never showed bytes waiting: %r" % rows)
cur.execute("SHOW SOCKETS")
assert len(cur.fetchall()) >= len(rows)
s.close()
PY
ok "SHOW SOCKETS / ACTIVE_SOCKETS: a client that reads nothing has bytes waiting"
assert_contains "commands are case-insensitive" "default_pool_size" "$(adm 'sHoW cOnFiG;')"
assert_contains "unknown command" "invalid command 'SHOW NONSENSE'" "$(adm 'show nonsense')"
assert_contains "unknown verb" "invalid command 'FROB'" "$(adm 'frob')"

# averages over stats_period
adm "set stats_period = 1" >/dev/null
pgbench -n -c 2 -j 1 -T 4 -S -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app >/dev/null 2>&1 &
BG=$!
avg_moves() { avg=$(show_col "show stats_averages" xact_count database=app); [ -n "$avg" ] && [ "$avg" -gt 0 ]; }
wait_for 4 "SHOW STATS_AVERAGES xact_count stays 0 under traffic" avg_moves
avg_moves
wait $BG
ok "SHOW STATS_AVERAGES reports transactions per second over stats_period ($avg/s)"

# tenants
PGOPTIONS='-c app.current_tenant_id=acme' psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c 'select 1' -c 'select 2' >/dev/null
assert_contains "SHOW TENANTS counts a tenant's work" "acme|0|2|2|" "$(adm 'show tenants')"

# rights
assert_contains "stats_users may SHOW" "app|postgres|" "$(AUSER=stats adm 'show pools')"
assert_contains "stats_users may not PAUSE" "admin access needed" "$(AUSER=stats adm 'pause')"
out=$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U nobody pgtide -c 'show pools' 2>&1)
assert_contains "others may not connect" "not allowed to connect to the admin console" "$out"
assert_contains "admin_listen_port serves the console for any database" "app|postgres|" \
	"$(psql -X -q -At -h 127.0.0.1 -p "$ADMINPORT" -U admin whatever -c 'show pools' 2>&1)"

# SET of a changeable setting, refusal of a fixed one
assert_eq "SET" "" "$(adm "set default_pool_size = 4")"
assert_contains "SET took effect" "default_pool_size|4|20|yes" "$(adm 'show config')"
assert_contains "SET of a restart-only setting is refused" "cannot be changed online" "$(adm "set listen_port = 1")"
assert_contains "SET with a bad value is refused" "invalid value" "$(adm "set default_pool_size = lots")"

# RELOAD under pgbench load: nothing fails
pgbench -n -c 10 -j 2 -T 4 -S -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app >"$T/bench.out" 2>&1 &
BG=$!
sleep 1
for i in 1 2 3; do
	sed -i "s/^default_pool_size = .*/default_pool_size = $((2 + i))/" "$T/pgtide.ini"
	assert_eq "RELOAD $i under load" "" "$(adm 'reload')"
	sleep 0.5
done
wait $BG
assert_eq "RELOAD under pgbench load: failed transactions" "0" "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$T/bench.out")"

# PAUSE waits for the running transaction, holds new ones; RESUME releases
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "pause"
import sys, time, threading, psycopg
port = int(sys.argv[1])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"
adm = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=pgtide", autocommit=True)
busy = psycopg.connect(ci, prepare_threshold=None)
busy.execute("select 1")  # transaction open
paused_at = []
def pause():
    adm2 = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=pgtide", autocommit=True)
    adm2.execute("pause app")
    paused_at.append(time.time())
def rows(cmd):
    cur = adm.execute(cmd)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
def wait_until(what, cond):
    for _ in range(100):
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit("never happened: " + what)
t = threading.Thread(target=pause); t.start()
# the PAUSE is in effect (the database says paused) and has not returned
wait_until("pause registered", lambda: any(r["name"] == "app" and int(r["paused"]) for r in rows("show databases")))
assert not paused_at, "PAUSE returned while a transaction was running"
busy.commit()
t.join(5)
assert paused_at, "PAUSE did not return after the transaction ended"
waiter = psycopg.connect(ci, autocommit=True, prepare_threshold=None)
done = []
w = threading.Thread(target=lambda: done.append(waiter.execute("select 42").fetchone()[0]))
w.start()
# the query reached pgtide and waits there (cl_waiting), and has not run
wait_until("the query waits", lambda: any(r["database"] == "app" and int(r["cl_waiting"]) >= 1 for r in rows("show pools")))
assert not done, "a query ran while the database was paused"
pools = adm.execute("show pools").fetchall()
assert any(r[0] == "app" and r[3] >= 1 for r in pools), pools  # cl_waiting
adm.execute("resume app")
w.join(5)
assert done == [42], done
PY
ok "PAUSE waits for running transactions and holds new ones; RESUME lets them run"

# DISABLE/ENABLE, KILL_CLIENT, KILL, RECONNECT, WAIT_CLOSE, SUSPEND/RESUME
adm "disable app" >/dev/null
assert_contains "DISABLE refuses new clients" "is disabled" "$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c 'select 1' 2>&1)"
adm "enable app" >/dev/null
assert_eq "ENABLE lets them in again" "1" "$(tsql -c 'select 1')"
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "kill_client"
import sys, psycopg
port = int(sys.argv[1])
v = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=app application_name=victim", autocommit=True, prepare_threshold=None)
adm = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=pgtide", autocommit=True)
cur = adm.execute("show clients")
cols = [d.name for d in cur.description]
rows = [dict(zip(cols, r)) for r in cur.fetchall()]
vid = [r["id"] for r in rows if r["application_name"] == "victim"][0]
adm.execute(f"kill_client {vid}")
try:
    v.execute("select 1")
    raise SystemExit("killed client still works")
except psycopg.Error as e:
    assert "KILL_CLIENT" in str(e) or v.closed, str(e)
PY
ok "KILL_CLIENT closes that client with a message"
assert_eq "RECONNECT" "" "$(adm 'reconnect app')"
assert_eq "WAIT_CLOSE" "" "$(adm 'wait_close app')"
adm "suspend" >/dev/null
out=$(PGCONNECT_TIMEOUT=2 psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c 'select 1' 2>&1)
[ "$out" != "1" ] || fail "SUSPEND still accepted a query"
ok "SUSPEND stops new clients"
psql -X -q -At -h 127.0.0.1 -p "$ADMINPORT" -U admin pgtide -c 'resume' >/dev/null 2>&1
assert_eq "RESUME after SUSPEND" "1" "$(tsql -c 'select 1')"
kill_out=$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c 'select pg_sleep(5)' 2>&1 &
	sleep 0.5; adm 'kill app' >/dev/null; wait)
assert_contains "KILL closes the database's clients" "KILL" "$kill_out"
adm "resume app" >/dev/null

# /metrics
"$PYTHON" - "$METRICS" <<'PY' || fail "metrics"
import sys, urllib.request, re
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
series = {}
for line in text.splitlines():
    if not line or line.startswith("#"):
        assert re.match(r"# (HELP|TYPE) [a-z_]+ ", line) or not line, line
        continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$', line)
    assert m, f"unparsable line: {line!r}"
    series[m.group(1) + (m.group(2) or "")] = float(m.group(3))
assert series["pgtide_up"] == 1
assert series['pgtide_transactions_total{database="app"}'] >= 20
assert any(k.startswith("pgtide_pool_servers{") for k in series)
assert any(k.startswith("pgtide_pool_max_wait_seconds{") for k in series)
assert 'pgtide_tenant_transactions_total{tenant="acme"}' in series
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/nope")
    raise SystemExit("404 expected")
except urllib.error.HTTPError as e:
    assert e.code == 404
PY
ok "/metrics parses as Prometheus text and tells the same story"

# Debian's prometheus-pgbouncer-exporter against the console
EXP=$(free_port)
if command -v prometheus-pgbouncer-exporter >/dev/null; then
	prometheus-pgbouncer-exporter --port "$EXP" --host 127.0.0.1 --pgbouncer-host 127.0.0.1 \
		--pgbouncer-port "$PGTIDE_PORT" --pgbouncer-user admin >"$T/exporter.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$EXP/metrics" >"$T/exp.txt" 2>/dev/null && break; sleep 0.2; done
	grep -q '^pgbouncer_active_clients{database="app",user="postgres"}' "$T/exp.txt" || { cat "$T/exporter.log"; fail "exporter output"; }
	grep -q '^pgbouncer_requests_total{database="app"}' "$T/exp.txt" || fail "exporter stats"
	grep -q '^pgbouncer_pools ' "$T/exp.txt" || fail "exporter lists"
	grep -qi "traceback\|error" "$T/exporter.log" && { cat "$T/exporter.log"; fail "exporter errors"; }
	ok "prometheus-pgbouncer-exporter scrapes the console without errors"
else
	echo "# prometheus-pgbouncer-exporter not installed: skipped" >&2
fi

# SHUTDOWN from the console: graceful, like SIGTERM
adm "shutdown" >/dev/null
for _ in $(seq 50); do kill -0 "$PGTIDE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PGTIDE_PID" 2>/dev/null && fail "SHUTDOWN did not stop pgtide"
ok "SHUTDOWN stops pgtide"
