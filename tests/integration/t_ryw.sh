#!/bin/bash
# Read your writes: a real primary and two streaming replicas, one of them
# slowed down by recovery_min_apply_delay. A client inserts a row and at
# once reads it back in a read-only transaction (routed to a replica);
# whether the read saw the row, and which server ran it, come from the
# read itself (count(*), inet_server_port()).
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c 'import psycopg' 2>/dev/null || { echo "SKIP: python3-psycopg (psycopg 3) not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

ryw_cluster
P=$PORT_main R1=$PORT_r1 R2=$PORT_r2
DELAY_MS=400
pgsql r2 -c "ALTER SYSTEM SET recovery_min_apply_delay = '${DELAY_MS}ms'" -c "SELECT pg_reload_conf()" >/dev/null ||
	fail "slow replica"

REPL="replicas=127.0.0.1:$R1,127.0.0.1:$R2"
METRICS=$(free_port)
cfg() { # the [pgtide] lines that change between phases
	write_config "$T/pgtide.ini" main "default_pool_size = 4" "log_connections = 0" "log_disconnections = 0" \
		"replica_check_period = 1" "replica_max_lag = 1GB" "read_routing = explicit" \
		"metrics_port = $METRICS" "read_your_writes_timeout = $1" \
		"[databases]" \
		"off = host=127.0.0.1 port=$P dbname=postgres $REPL" \
		"cli = host=127.0.0.1 port=$P dbname=postgres $REPL read_your_writes=client" \
		"ten = host=127.0.0.1 port=$P dbname=postgres $REPL read_your_writes=tenant"
}
cfg 200ms
pgtide_start "$T/pgtide.ini"
PORT0=$PGTIDE_PORT
adm() { psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "$1" 2>&1; }
reload() { # reload TIMEOUT: same port, new read_your_writes_timeout
	cfg "$1"
	sed -i "s/^listen_port = .*/listen_port = $PORT0/; s/^metrics_port = .*/metrics_port = $METRICS/" "$T/pgtide.ini"
	PGTIDE_PORT=$PORT0
	adm "reload" >/dev/null
	for _ in $(seq 50); do
		[ "$(adm "show config" | grep '^read_your_writes_timeout|' | cut -d'|' -f2)" = "$2" ] && return 0
		sleep 0.1
	done
	fail "reload to read_your_writes_timeout = $1"
}

for db in off cli ten; do TDB=$db tsql -c "select 1" >/dev/null || fail "first client of $db"; done
for _ in $(seq $((200 * VG_SLOW))); do
	[ "$(show_col "show replicas" state | grep -c healthy)" = 6 ] && break
	sleep 0.1
done
assert_eq "both replicas healthy in the three databases" "6" "$(show_col "show replicas" state | grep -c healthy)"
assert_eq "SHOW DATABASES read_your_writes" "off client tenant" \
	"$(for d in off cli ten; do show_col "show databases" read_your_writes name=$d; done | xargs)"

# load DB ROUNDS RUN [args]: one JSON line; field VALUE JSON
load() { "$PYTHON" "$srcdir/tests/integration/ryw_load.py" "$PGTIDE_PORT" "$1" "$2" "$P" --run "$3" "${@:4}"; }
field() { "$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }

# ---- off: the test can fail ----
out=$(load off 200 1) || fail "load off: $out"
log "off: $out"
m=$(field misses "$out")
[ "$m" -gt 0 ] && ok "read_your_writes = off: $m of 200 reads missed their own write" ||
	fail "off: no read missed (the slow replica should have): $out"

# ---- client: thousands of rounds, zero misses, most reads on replicas ----
N=$((2000 / VG_SLOW))
out=$(load cli $N 2) || fail "load cli: $out"
log "client: $out"
assert_eq "read_your_writes = client: misses in $N rounds" "0" "$(field misses "$out")"
rr=$(field replica_reads "$out")
[ "$rr" -ge $((N / 2)) ] && ok "client: $rr of $N reads still served by replicas" ||
	fail "client: only $rr of $N reads on replicas: $out"
n=$(show_col "show replicas" ryw_reads database=cli port=$R1)
[ "${n:-0}" -ge 1 ] && ok "SHOW REPLICAS ryw_reads counts reads on the replica that had caught up ($n)" ||
	fail "ryw_reads of r1 [$n]"

# ---- tenant scope: one client writes, another of the same tenant reads ----
out=$(load ten $((1000 / VG_SLOW)) 3 --two --tenant acme) || fail "load ten: $out"
log "tenant, two clients: $out"
assert_eq "read_your_writes = tenant: another client of the tenant misses nothing" "0" "$(field misses "$out")"
out=$(load cli 200 4 --two --tenant acme) || fail "load cli two: $out"
log "client scope, two clients: $out"
m=$(field misses "$out")
[ "$m" -gt 0 ] && ok "client scope does not cover another client ($m of 200 missed): the tenant scope is what did" ||
	fail "client scope, two clients: no miss: $out"
n=$(show_col "show tenants" ryw_replica_reads tenant=acme)
w=$(show_col "show tenants" ryw_waited_reads tenant=acme)
[ $((n + w)) -ge 1 ] && ok "SHOW TENANTS counts the tenant's reads (replica $n, waited $w)" || fail "SHOW TENANTS [$n/$w]"

# a client bound to its server (a temp table) picks no route for its
# transactions: its writes still count for its tenant
"$PYTHON" - "$PGTIDE_PORT" "$P" <<'PY' || fail "bound writer"
import sys, time, psycopg
port, primary = int(sys.argv[1]), int(sys.argv[2])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=ten options='-c app.current_tenant_id=acme'"
a = psycopg.connect(ci, autocommit=True, prepare_threshold=None)
b = psycopg.connect(ci, autocommit=True, prepare_threshold=None)
a.execute("CREATE TEMP TABLE keep_me (x int)")
time.sleep(1.0)  # both replicas pass the CREATE: only the INSERTs' positions can hold reads back
misses = on_replica = 0
for i in range(40):
    k = 900_000_000 + i
    a.execute("INSERT INTO ryw (k, tenant) VALUES (%s, 'acme')", (k,))
    b.execute("BEGIN READ ONLY")
    n, p = b.execute("SELECT count(*), inet_server_port() FROM ryw WHERE k = %s", (k,)).fetchone()
    b.execute("COMMIT")
    misses += n != 1
    on_replica += p != primary
print(f"bound writer: {misses} misses, {on_replica} of 40 reads on replicas")
sys.exit(1 if misses or on_replica == 0 else 0)
PY
ok "a bound client's writes count for its tenant (0 misses)"

# ---- a replica that falls behind is skipped, not waited on forever ----
pgsql r1 -c "SELECT pg_wal_replay_pause()" >/dev/null || fail "pause r1"
before=$(show_col "show tenants" ryw_primary_reads tenant=acme)
out=$(load ten 10 5 --tenant acme) || fail "load paused: $out"
log "r1 paused, r2 ${DELAY_MS} ms behind, 200 ms timeout: $out"
assert_eq "no replica caught up: no miss" "0" "$(field misses "$out")"
assert_eq "... and every read ran on the primary" "0" "$(field replica_reads "$out")"
after=$(show_col "show tenants" ryw_primary_reads tenant=acme)
assert_eq "SHOW TENANTS ryw_primary_reads counts them" "$((before + 10))" "$after"
p99=$(field read_p99_ms "$out")
"$PYTHON" -c "import sys; sys.exit(0 if $p99 < 2000 * $VG_SLOW else 1)" &&
	ok "reads waited at most about read_your_writes_timeout (p99 $p99 ms)" || fail "reads waited $p99 ms"

# a longer timeout: the delayed replica is waited for, and writes are not
reload 5s 5
out=$(load ten 10 6 --tenant acme) || fail "load wait: $out"
log "r1 paused, 5 s timeout: $out"
assert_eq "waited for the delayed replica: no miss" "0" "$(field misses "$out")"
assert_eq "... and every read ran there" "10" "$(field replica_reads "$out")"
w=$(field write_p99_ms "$out")
"$PYTHON" -c "import sys; sys.exit(0 if $w < 2500 else 1)" && ok "writes are not held while reads wait (p99 $w ms)" ||
	fail "writes took $w ms"
n=$(show_col "show tenants" ryw_waited_reads tenant=acme)
[ "${n:-0}" -ge 10 ] && ok "SHOW TENANTS ryw_waited_reads ($n)" || fail "ryw_waited_reads [$n]"
pgsql r1 -c "SELECT pg_wal_replay_resume()" >/dev/null || fail "resume r1"

# ---- /metrics ----
mx=$(curl -s "http://127.0.0.1:$METRICS/metrics")
for pat in 'pgtide_ryw_reads_total{database="cli",outcome="replica"}' \
	'pgtide_ryw_reads_total{database="ten",outcome="primary"} ' 'pgtide_ryw_wait_seconds_total{database="ten"}' \
	'pgtide_ryw_commits_total{database="cli"}' 'pgtide_replica_ryw_reads_total{database="cli"'; do
	assert_contains "metrics: $pat" "$pat" "$mx"
done
v=$(echo "$mx" | grep '^pgtide_ryw_reads_total{database="off"' | awk '{s += $2} END {print s + 0}')
assert_eq "read_your_writes = off counts nothing" "0" "$v"
pos=$(echo "$mx" | grep '^pgtide_ryw_tenant_positions{database="ten"}' | awk '{print $2}')
log "tenant positions held now: $pos"

# positions every replica has replayed are dropped (a few checks later)
for _ in $(seq $((100 * VG_SLOW))); do
	pos=$(curl -s "http://127.0.0.1:$METRICS/metrics" | grep '^pgtide_ryw_tenant_positions{database="ten"}' | awk '{print $2}')
	[ "$pos" = 0 ] && break
	sleep 0.1
done
assert_eq "tenant positions dropped once every replica replayed them" "0" "$pos"

# the daemon is still fine
assert_eq "pgtide still answers" "1" "$(TDB=cli tsql -c 'select 1')"
