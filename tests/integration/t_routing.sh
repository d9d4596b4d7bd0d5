#!/bin/bash
# Read routing: a real primary and two streaming replicas (pg_basebackup -R).
# Which server ran a statement is read back from the statement itself
# (inet_server_port(), pg_is_in_recovery()), so every assertion is about
# where the work really happened.
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main -c "create database quietdb" -c "create database smalldb" >/dev/null || fail "databases"
pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE ROLE app LOGIN;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;
CREATE TABLE hits (n int);
CREATE FUNCTION bump() RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO hits VALUES (1); RETURN 'bumped on ' || inet_server_port(); END $$;
CREATE TABLE items (id serial PRIMARY KEY, tenant_id text NOT NULL);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON items USING (tenant_id = current_setting('app.current_tenant_id', true));
CREATE VIEW rec AS SELECT pg_is_in_recovery() AS r;
GRANT SELECT ON t, items TO app;
INSERT INTO items (tenant_id) SELECT 't' || n FROM generate_series(1, 9) n, generate_series(1, n) g;
SQL

replica r1
replica r2
P=$PORT_main R1=$PORT_r1 R2=$PORT_r2
for r in r1 r2; do
	assert_eq "$r is a standby" "t" "$(pgsql $r -c 'select pg_is_in_recovery()')"
done

REPL="replicas=127.0.0.1:$R1,127.0.0.1:$R2"
write_config "$T/pgtide.ini" main "default_pool_size = 4" "max_client_conn = 400" \
	"log_connections = 0" "log_disconnections = ${LOGDISC:-0}" \
	"replica_check_period = 1" "replica_max_lag = 256kB" "read_routing = explicit" \
	"[databases]" \
	"auto = host=127.0.0.1 port=$P dbname=postgres $REPL read_routing=auto" \
	"exp = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"off = host=127.0.0.1 port=$P dbname=postgres $REPL read_routing=off" \
	"sess = host=127.0.0.1 port=$P dbname=postgres $REPL read_routing=auto pool_mode=session"
pgtide_start "$T/pgtide.ini"
adm() { psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "$1" 2>&1; }

wait_state() { # wait_state PORT STATE [seconds]: in every database
	local out total
	for _ in $(seq $((${3:-20} * 10))); do
		out=$(adm "show replicas" | grep -v -e '^quiet|' -e '^small|')
		total=$(echo "$out" | grep -c "|127.0.0.1|$1|")
		[ "$total" -gt 0 ] && [ "$total" = "$(echo "$out" | grep -c "|127.0.0.1|$1|$2|")" ] && return 0
		sleep 0.1
	done
	adm "show replicas" >&2
	fail "replica :$1 did not become $2"
}
# hosts are checked with the login a client of the database uses: none yet
assert_contains "before any client: not checked, and why" "none has logged in" "$(adm "show replicas")"
for db in auto exp off sess; do TDB=$db tsql -c "select 1" >/dev/null || fail "first client of $db"; done
wait_state "$R1" healthy
wait_state "$R2" healthy
ok "both replicas healthy after their first checks"

# Health checks hold no connection of their own: a database no client has
# used gets none on any host, and a pool of one server has at most one
# backend per host, checks included (a check borrows a pool's idle server).
# The checks are seen running (small's replicas turn healthy) before the
# counts are read.
cp "$T/pgtide.ini" "$T/pgtide.ini.before"
cat >>"$T/pgtide.ini" <<INI
quiet = host=127.0.0.1 port=$P dbname=quietdb $REPL read_routing=auto
small = host=127.0.0.1 port=$P dbname=smalldb $REPL read_routing=auto pool_size=1
INI
adm reload >/dev/null
backends() { pgsql "$1" -c "select count(*) from pg_stat_activity where datname = '$2'"; }
for i in $(seq 20); do TDB=small tsql -c "select 1" >/dev/null || fail "a read of small"; done
small_checked() { [ "$(show_col "show replicas" state database=small | grep -c healthy)" = 2 ]; }
wait_for 20 "small's replicas were never checked healthy" small_checked
most=0
for _ in $(seq 30); do
	for h in main r1 r2; do
		n=$(backends "$h" smalldb)
		[ "$n" -gt "$most" ] && most=$n
	done
	sleep 0.1
done
assert_eq "pool_size = 1: at most one backend per host, checks included" "1" "$most"
for h in main r1 r2; do
	assert_eq "no connection to $h for a database no client has used" "0" "$(backends "$h" quietdb)"
done
cp "$T/pgtide.ini.before" "$T/pgtide.ini"
adm reload >/dev/null # quiet and small stay listed while they have servers: wait_state skips them

cols=$(psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "show replicas" | head -1 | tr -d ' ')
assert_eq "SHOW REPLICAS columns" "database|host|port|state|lag_bytes|transactions|last_check|reason|ryw_reads" "$cols"

# where DB SQL...: the port of the server that ran the last statement
where() {
	local db=$1
	shift
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres "$db" "${args[@]}" 2>&1 | tail -1
}
onrep() { case "$1" in "$R1" | "$R2") return 0 ;; esac; return 1; }
expect_replica() { onrep "$2" && ok "$1 -> replica" || fail "$1: expected a replica, got [$2]"; }
expect_primary() { assert_eq "$1 -> primary" "$P" "$2"; }

# ---- explicit ----
for b in "BEGIN READ ONLY" "begin transaction read only" "START TRANSACTION READ ONLY" \
	"start transaction isolation level repeatable read, read only" \
	"BEGIN READ ONLY ISOLATION LEVEL READ COMMITTED" "begin not deferrable read only" \
	"/* app: report */ Begin -- why\n READ\tONLY"; do
	expect_replica "explicit: $b" "$(where exp "$(printf "$b")" 'select inet_server_port()' 'commit')"
done
for b in "BEGIN" "BEGIN READ WRITE" "start transaction isolation level repeatable read" \
	"BEGIN ISOLATION LEVEL SERIALIZABLE"; do
	expect_primary "explicit: $b" "$(where exp "$b" 'select inet_server_port()' 'commit')"
done
out=$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres exp -v VERBOSITY=verbose -c 'begin read only' -c 'select bump()' 2>&1)
assert_contains "explicit: a write in a READ ONLY block gets 25006 from the replica" "25006" "$out"
expect_primary "explicit: a plain SELECT stays on the primary" "$(where exp 'select inet_server_port()')"
expect_primary "off: BEGIN READ ONLY stays on the primary" "$(where off 'begin read only' 'select inet_server_port()' 'commit')"
expect_primary "session mode: never routed" "$(where sess 'begin read only' 'select inet_server_port()' 'commit')"

# default_transaction_read_only, from the startup packet and from SET
out=$(PGOPTIONS='-c default_transaction_read_only=on' where exp 'select inet_server_port()')
expect_replica "explicit: default_transaction_read_only=on at startup" "$out"
out=$(PGOPTIONS='-c default_transaction_read_only=on' where exp 'begin read write' 'select inet_server_port()' 'commit')
expect_primary "explicit: READ WRITE overrides the session default" "$out"
out=$(where exp 'set default_transaction_read_only = on' 'select inet_server_port()')
expect_replica "explicit: SET default_transaction_read_only = on" "$out"
out=$(where exp 'set default_transaction_read_only = on' 'set default_transaction_read_only = off' 'select inet_server_port()')
expect_primary "explicit: and back off" "$out"

# drivers' own read-only switches
"$PYTHON" - "$PGTIDE_PORT" "$P" <<'PY' || fail "drivers read-only"
import sys, psycopg, psycopg2
port, primary = int(sys.argv[1]), int(sys.argv[2])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=exp"
c = psycopg.connect(ci)
c.read_only = True
for i in range(4):  # extended protocol inside, with parameters
    r = c.execute("select inet_server_port(), pg_is_in_recovery(), %s::int", [i]).fetchone()
    assert r[1] is True and r[2] == i, r
    c.commit()
c.read_only = False
assert c.execute("select inet_server_port()").fetchone()[0] == primary
c.commit()
c2 = psycopg2.connect(ci)
c2.set_session(readonly=True)
cur = c2.cursor()
cur.execute("select pg_is_in_recovery()")
assert cur.fetchone()[0] is True
c2.commit()
print("ok - psycopg 3 read_only and psycopg2 readonly go to replicas")
PY

# ---- auto ----
for q in "select inet_server_port()" "  /* c */ SELECT inet_server_port() -- x" \
	"with x as (select 1) select inet_server_port()" "(select inet_server_port())" \
	"select inet_server_port() where 'for update' <> '' -- for update"; do
	expect_replica "auto: $q" "$(where auto "$q")"
done
for q in "select inet_server_port() from t where id = 1 for update" \
	"select inet_server_port() from t limit 1 for no key update" \
	"select inet_server_port() from t for share" \
	"with d as (delete from hits returning 1) select inet_server_port()" \
	"insert into hits values (0) returning inet_server_port()"; do
	expect_primary "auto: $q" "$(where auto "$q")"
done
assert_eq "auto: TABLE runs on a replica" "t" "$(where auto 'table rec')"
assert_eq "auto: SHOW runs on a replica" "on" "$(where auto 'show transaction_read_only')"
assert_eq "auto: VALUES runs on a replica" "t" "$(where auto 'values (pg_is_in_recovery())')"
assert_eq "auto: SELECT INTO runs on the primary" "" "$(where auto 'select 1 as x into temp tx')"

# a function that writes: the replica says 25006, the primary answers
before=$(pgsql main -c 'select count(*) from hits')
assert_eq "auto: writing function retried on the primary" "bumped on $P" "$(where auto 'select bump()')"
assert_eq "auto: it ran once" "$((before + 1))" "$(pgsql main -c 'select count(*) from hits')"
"$PYTHON" - "$PGTIDE_PORT" "$P" <<'PY' || fail "auto extended retry"
import sys, psycopg
port, primary = int(sys.argv[1]), int(sys.argv[2])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=auto", autocommit=True)
# extended protocol reads go to replicas, with parameters
for i in range(6):
    r = c.execute("select pg_is_in_recovery(), %s::text", [f"v{i}"]).fetchone()
    assert r == (True, f"v{i}"), r
# prepared (named) statements too
for i in range(6):
    r = c.execute("select pg_is_in_recovery(), %s::int", [i], prepare=True).fetchone()
    assert r == (True, i), r
# writing function through the extended protocol: retried, one answer
for i in range(3):
    assert c.execute("select bump() where %s::int >= 0", [i]).fetchone()[0] == f"bumped on {primary}"
# a pipeline of reads and a write
with c.pipeline():
    a = c.execute("select pg_is_in_recovery()")
    b = c.execute("select bump()")
    d = c.execute("select 7")
assert b.fetchone()[0] == f"bumped on {primary}"
assert d.fetchone()[0] == 7
print("ok - auto: extended, prepared, pipelined reads and writing functions")
PY

# writes never reach a replica: a write statement is never sent to one, so
# no replica has logged a read-only refusal other than bump()'s
for r in r1 r2; do
	eval "f=\$T/pg-$r.log"
	n=$(grep -c "cannot execute INSERT in a read-only transaction" "$f")
	other=$(grep "read-only transaction" "$f" | grep -vc "cannot execute INSERT in a read-only transaction")
	assert_eq "$r: no write statement reached it" "0" "$other"
	log "$r refused bump()'s INSERT $n times (each retried on the primary)"
done
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "writes"
import sys, psycopg
port = int(sys.argv[1])
for db in ("auto", "exp"):
    c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={db}", autocommit=True)
    c.execute("create table if not exists w_" + db + " (x int)")
    c.execute("insert into w_" + db + " values (1)")
    c.execute("update w_" + db + " set x = 2")
    with c.cursor().copy("copy w_" + db + " from stdin") as cp:
        cp.write_row((3,))
    # a read right after a write may hit a replica that has not replayed
    # it yet; a transaction keeps read-your-writes on the primary
    with c.transaction():
        assert c.execute("select count(*) from w_" + db).fetchone()[0] == 2
    c.execute("delete from w_" + db)
print("ok - writes run on the primary")
PY
for r in r1 r2; do
	eval "f=\$T/pg-$r.log"
	assert_eq "$r: still no write statement reached it" "0" \
		"$(grep "read-only transaction" "$f" | grep -vc "cannot execute INSERT in a read-only transaction")"
done

# ---- the tenant is set on replicas too ----
out=$(PGOPTIONS='-c app.current_tenant_id=t4' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app auto \
	-c "select current_setting('app.current_tenant_id'), pg_is_in_recovery(), count(*) from items")
assert_eq "auto: tenant's rows on a replica" "t4|t|4" "$out"
out=$(PGOPTIONS='-c app.current_tenant_id=t6' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app exp -q \
	-c "begin read only" -c "select pg_is_in_recovery(), count(*) from items" -c commit)
assert_eq "explicit: tenant's rows on a replica" "t|6" "$out"

# ---- round-robin ----
"$PYTHON" - "$PGTIDE_PORT" "$R1" "$R2" <<'PY' || fail "round robin"
import sys, threading, collections, psycopg
port, r1, r2 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
counts = collections.Counter()
lock = threading.Lock()
def work():
    c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=auto", autocommit=True)
    local = collections.Counter()
    for _ in range(250):
        local[c.execute("select inet_server_port()").fetchone()[0]] += 1
    with lock:
        counts.update(local)
ts = [threading.Thread(target=work) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
total = sum(counts.values())
assert set(counts) == {r1, r2}, counts
share = counts[r1] / total
assert abs(share - 0.5) <= 0.03, counts
print(f"ok - round-robin over {total} reads: {counts[r1]} / {counts[r2]}")
PY
assert_contains "SHOW REPLICAS counts transactions" "auto|127.0.0.1|$R1|healthy|" "$(adm 'show replicas')"
tx=$(show_col "show replicas" transactions database=auto host=127.0.0.1 port=$R1)
[ "$tx" -ge 1000 ] || fail "SHOW REPLICAS transactions for r1 is $tx"
ok "SHOW REPLICAS transactions moved ($tx)"

# ---- lag: a replica that stops replaying leaves the rotation ----
pgsql r1 -c 'select pg_wal_replay_pause()' >/dev/null
pgsql main -c "insert into hits select 1 from generate_series(1, 20000)" >/dev/null
wait_state "$R1" lagging
wait_state "$R2" healthy # it may lag a moment itself while it replays the burst
for i in 1 2 3 4; do
	assert_eq "while r1 lags, reads go to r2 ($i)" "$R2" "$(where auto 'select inet_server_port()')"
done
pgsql r1 -c 'select pg_wal_replay_resume()' >/dev/null
wait_state "$R1" healthy
ok "r1 rejoins once it has caught up"

# ---- a replica killed under load ----
"$PYTHON" - "$PGTIDE_PORT" "$R1" "$R2" "$DIR_r2" "$(id -u)" <<'PY' || fail "replica killed under load"
import sys, threading, time, subprocess, psycopg
port, r1, r2, d2, uid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
stop = time.time() + 6
errors, started_on_dead, reads = [], [], [0]
lock = threading.Lock()
def auto_reads():
    c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=auto", autocommit=True)
    while time.time() < stop:
        try:
            c.execute("select inet_server_port(), pg_sleep(0.002)").fetchone()
            with lock: reads[0] += 1
        except Exception as e:
            errors.append(f"{time.time():.3f} auto read: {e!r}")
def explicit_txns():
    c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=exp")
    c.read_only = True
    while time.time() < stop:
        first = None
        try:
            first = c.execute("select inet_server_port()").fetchone()[0]
            c.execute("select pg_sleep(0.002)")
            c.commit()
            with lock: reads[0] += 1
        except Exception as e:
            c.rollback()
            # only a transaction that had already run on the dying replica may fail
            (started_on_dead if first == r2 else errors).append(f"{time.time():.3f} first={first} {e!r}")
ts = [threading.Thread(target=auto_reads) for _ in range(6)] + [threading.Thread(target=explicit_txns) for _ in range(4)]
for t in ts: t.start()
time.sleep(2)
cmd = ["pg_ctl", "-D", d2, "-m", "immediate", "stop"]
if uid == "0": cmd = ["runuser", "-u", "postgres", "--"] + cmd
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
for t in ts: t.join()
assert not errors, errors[:5]
print(f"ok - r2 killed under load: {reads[0]} reads, no error for work not yet started on it "
      f"({len(started_on_dead)} transactions already running on it were lost)")
c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=auto", autocommit=True)
ports = {c.execute("select inet_server_port()").fetchone()[0] for _ in range(10)}
assert ports == {r1}, ports
print("ok - after r2 died, reads go to r1 only")
PY
wait_state "$R2" down
as_pg pg_ctl -D "$DIR_r2" -l "$T/pg-r2.log" -w -t 60 start >/dev/null || fail "restart r2"
wait_state "$R2" healthy 30
ok "r2 rejoins the rotation after its restart"

# ---- a promoted replica leaves the rotation ----
as_pg pg_ctl -D "$DIR_r2" -w promote >/dev/null || fail "promote r2"
wait_state "$R2" not_in_recovery
for i in 1 2 3 4; do
	assert_eq "after r2's promotion, reads go to r1 ($i)" "$R1" "$(where auto 'select inet_server_port()')"
done

# ---- no healthy replica ----
pg_stop r1 immediate
wait_state "$R1" down
expect_primary "both down, replica_fallback=primary: auto read" "$(where auto 'select inet_server_port()')"
expect_primary "both down, replica_fallback=primary: explicit" "$(where exp 'begin read only' 'select inet_server_port()' 'commit')"
assert_eq "SET replica_fallback = error" "" "$(adm 'set replica_fallback = error')"
out=$(PGOPTIONS='' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres auto \
	-v VERBOSITY=verbose -c 'select inet_server_port()' 2>&1)
assert_contains "replica_fallback=error: 08006" "08006" "$out"
assert_contains "replica_fallback=error: names the setting" "replica_fallback" "$out"
"$PYTHON" - "$PGTIDE_PORT" "$P" <<'PY' || fail "fallback error"
import sys, psycopg
port, primary = int(sys.argv[1]), int(sys.argv[2])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=exp", autocommit=True)
try:
    c.execute("begin read only")
    raise SystemExit("BEGIN READ ONLY should have failed")
except psycopg.Error as e:
    assert e.sqlstate == "08006", e.sqlstate
# the connection stays usable, and writes still work
c.execute("rollback")
assert c.execute("select inet_server_port()").fetchone()[0] == primary
c.execute("insert into hits values (5)")
print("ok - replica_fallback=error refuses reads with 08006; the client stays usable, writes work")
PY
adm 'set replica_fallback = primary' >/dev/null
assert_contains "pgtide is still serving" "1" "$(where auto 'select 1')"
