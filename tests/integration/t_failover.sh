#!/bin/bash
# Read routing out of the box, and a failover followed.
#
# Part 1: replicas are checked with the logins clients already use (SCRAM
# pass-through, md5, plain, trust): no check credentials are configured, yet
# read-only transactions reach both replicas; a replica that refuses a
# pool's login is shown down with the server's reason, counted in /metrics,
# and logged once.
# Part 2: a database that lists hosts without roles. pgtide finds the
# primary; under a Python load the primary dies, a replica is promoted,
# writes move to it within two check periods, reads keep flowing, and only
# transactions in flight fail. The old primary rejoins as a standby and is
# read from; two hosts claiming the primary role stop writes.
. "$(dirname "$0")/lib.sh"

pg_start main
# the servers ask for passwords (SCRAM, md5, plain); postgres stays trusted
as_pg sed -i '1i host all scram_u 127.0.0.1/32 scram-sha-256\nhost all md5_u 127.0.0.1/32 md5\nhost all plain_u 127.0.0.1/32 password' \
	"$DIR_main/pg_hba.conf"
pgsql main >/dev/null <<'SQL' || fail "schema"
SELECT pg_reload_conf();
CREATE ROLE scram_u LOGIN PASSWORD 'scram-pw';
CREATE ROLE plain_u LOGIN PASSWORD 'plain-pw';
CREATE ROLE trust_u LOGIN;
SET password_encryption = 'md5';
CREATE ROLE md5_u LOGIN PASSWORD 'md5-pw';
CREATE TABLE ha_log (id bigserial PRIMARY KEY, port int, at timestamptz DEFAULT now());
GRANT ALL ON ha_log, ha_log_id_seq TO scram_u;
SQL
replica r1
replica r2
P=$PORT_main R1=$PORT_r1 R2=$PORT_r2
assert_eq "the replicas copied the password rules" "1" \
	"$(grep -c '^host all scram_u' "$DIR_r1/pg_hba.conf")"

secret() { pgsql main -c "select rolpassword from pg_authid where rolname = '$1'"; }
cat >"$T/users.txt" <<USERS
"scram_u" "$(secret scram_u)"
"md5_u" "$(secret md5_u)"
"plain_u" "plain-pw"
"trust_u" ""
"admin" ""
USERS
grep -q '"scram_u" "SCRAM-SHA-256\$' "$T/users.txt" || fail "no SCRAM secret"
grep -q '"md5_u" "md5' "$T/users.txt" || fail "no md5 secret"
cat >"$T/hba.conf" <<'HBA'
local all all                     trust
host  all scram_u 127.0.0.1/32    scram-sha-256
host  all md5_u   127.0.0.1/32    md5
host  all plain_u 127.0.0.1/32    md5
host  all all     127.0.0.1/32    trust
HBA

REPL="replicas=127.0.0.1:$R1,127.0.0.1:$R2 read_routing=explicit"
METRICS=$(free_port)
write_config "$T/pgtide.ini" main "default_pool_size = 4" "log_connections = 0" "log_disconnections = 0" \
	"auth_file = $T/users.txt" "auth_hba_file = $T/hba.conf" "metrics_port = $METRICS" \
	"replica_check_period = 1" "query_wait_timeout = 30" \
	"[databases]" \
	"dscram = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"dmd5 = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"dplain = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"dtrust = host=127.0.0.1 port=$P dbname=postgres $REPL" \
	"ha = host=127.0.0.1:$P,127.0.0.1:$R1,127.0.0.1:$R2 dbname=postgres read_routing=explicit"
sed -i 's/^auth_type = .*/auth_type = hba/' "$T/pgtide.ini"
grep -q "replica_check_user\|^auth_user" "$T/pgtide.ini" && fail "the test must not configure check credentials"
pgtide_start "$T/pgtide.ini"
adm() { psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "$1" 2>&1; }

# wait_row SHOWCMD DB PORT COLUMN VALUE [seconds]: wait until the row of
# host :PORT in database DB has VALUE in COLUMN.
wait_row() {
	local cmd=$1 db=$2 port=$3 field=$4 want=$5 got
	for _ in $(seq $((${6:-20} * 10 * VG_SLOW))); do
		got=$(show_col "$cmd" "$field" database="$db" port="$port")
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	adm "$cmd" >&2
	fail "$cmd: $db :$port column $field is [$got], expected [$want]"
}
# conn USER DB: a libpq connection string through pgtide
conn() {
	local pw=""
	case $1 in scram_u) pw=scram-pw ;; md5_u) pw=md5-pw ;; plain_u) pw=plain-pw ;; esac
	echo "host=127.0.0.1 port=$PGTIDE_PORT user=$1 dbname=$2 password=$pw"
}
# ports USER DB N: the server ports of N read-only transactions
ports() {
	local i out=""
	for i in $(seq "$3"); do
		out+="$(psql -X -q -At "$(conn "$1" "$2")" -c 'begin read only' -c 'select inet_server_port()' -c 'commit' 2>&1 | tail -1) "
	done
	echo "$out"
}

# ---- part 1: the checks use the pools' own logins ----
assert_contains "before any client logged in: why the replicas are not checked" "none has logged in" \
	"$(adm "show replicas" | grep '^dscram|')"
# one replica refuses md5_u: the pool's login fails there only
as_pg sed -i '1i host all md5_u 127.0.0.1/32 reject' "$DIR_r2/pg_hba.conf"
pgsql r2 -c "select pg_reload_conf()" >/dev/null
for u in scram_u md5_u plain_u trust_u; do
	db=d${u%_u}
	assert_eq "$u logs in to $db" "$u" "$(psql -X -q -At "$(conn $u "$db")" -c 'select current_user' 2>&1)"
done
for db in dscram dmd5 dplain dtrust; do wait_row "show replicas" "$db" "$R1" state healthy; done
for db in dscram dplain dtrust; do wait_row "show replicas" "$db" "$R2" state healthy; done
wait_row "show replicas" dmd5 "$R2" state down
ok "replicas checked with SCRAM pass-through, md5, plain and trust logins, no extra credentials"
for u in scram_u md5_u plain_u trust_u; do
	db=d${u%_u}
	got=$(ports $u "$db" 6)
	if [ "$u" = md5_u ]; then
		assert_eq "$u: reads to the replica that accepts it, only" "$R1 $R1 $R1 $R1 $R1 $R1 " "$got"
	else
		case $got in *"$R1"*"$R2"* | *"$R2"*"$R1"*) ok "$u: reads round-robin over both replicas ($got)" ;;
		*) fail "$u: reads did not reach both replicas: [$got]" ;; esac
	fi
done
reason=$(show_col "show replicas" reason database=dmd5 port="$R2")
assert_contains "SHOW REPLICAS says why the replica is down" 'pg_hba.conf rejects connection for host "127.0.0.1", user "md5_u"' "$reason"
failed_checks() {
	fails=$(curl -s "http://127.0.0.1:$METRICS/metrics" | grep "^pgtide_host_check_failures_total{database=\"dmd5\",host=\"127.0.0.1\",port=\"$R2\"}" | awk '{print $2}')
	[ "${fails:-0}" -ge 3 ]
}
wait_for 15 "/metrics never counted 3 failed checks of the replica" failed_checks
failed_checks
ok "/metrics counts the failed checks ($fails)"
assert_contains "/metrics: the replica is not up" "pgtide_replica_up{database=\"dmd5\",host=\"127.0.0.1\",port=\"$R2\"} 0" \
	"$(curl -s "http://127.0.0.1:$METRICS/metrics")"
assert_eq "the failure is logged once, not at every check" "1" \
	"$(grep -cE "127.0.0.1:$R2 of database \"dmd5\" (is down|leaves the rotation)" "$T/pgtide.log")"
assert_eq "and no connection of the checks is logged at every check" "0" \
	"$(grep -c "dmd5/md5_u@127.0.0.1:$R2 closing" "$T/pgtide.log")"
# and the replica comes back as soon as it accepts the login
as_pg sed -i '1d' "$DIR_r2/pg_hba.conf"
pgsql r2 -c "select pg_reload_conf()" >/dev/null
wait_row "show replicas" dmd5 "$R2" state healthy
assert_eq "SHOW REPLICAS: the reason is gone with the failure" "" \
	"$(show_col "show replicas" reason database=dmd5 port="$R2")"

# ---- part 2: roles among hosts, and a promotion ----
assert_eq "ha: a user with only a SCRAM secret" "scram_u" "$(psql -X -q -At "$(conn scram_u ha)" -c 'select current_user' 2>&1)"
wait_row "show hosts" ha "$P" role primary
wait_row "show hosts" ha "$R1" role replica
wait_row "show hosts" ha "$R2" role replica
wait_row "show hosts" ha "$R1" state healthy
wait_row "show hosts" ha "$R2" state healthy
cols=$(psql -X -q -h 127.0.0.1 -p "$PGTIDE_PORT" -U admin pgtide -c "show hosts" | head -1 | tr -d ' ')
assert_eq "SHOW HOSTS columns" "database|host|port|role|state|lag_bytes|transactions|last_check|failures|reason|ryw_reads" "$cols"
assert_eq "ha: writes go to the host that is not in recovery" "$P" \
	"$(psql -X -q -At "$(conn scram_u ha)" -c 'insert into ha_log (port) values (inet_server_port()) returning port')"
got=$(ports scram_u ha 4)
case $got in *"$R1"*"$R2"* | *"$R2"*"$R1"*) ok "ha: reads over both replicas ($got)" ;; *) fail "ha reads: [$got]" ;; esac
assert_contains "/metrics: the primary" "pgtide_host_primary{database=\"ha\",host=\"127.0.0.1\",port=\"$P\"} 1" \
	"$(curl -s "http://127.0.0.1:$METRICS/metrics")"

cat >"$T/load.py" <<'PY'
# 3 writers and 3 readers through pgtide for DURATION seconds; every
# transaction is one line: start end kind ok port-or-sqlstate
import sys, time, threading, psycopg
ci, duration, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
deadline = time.time() + duration
lines, lock = [], threading.Lock()

def record(t0, kind, ok, what):
    with lock:
        lines.append(f"{t0:.3f} {time.time():.3f} {kind} {int(ok)} {what}")

def worker(kind):
    conn = None
    while time.time() < deadline:
        t0 = time.time()
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(ci, autocommit=(kind == "w"))
                conn.read_only = kind == "r" or None
            if kind == "w":
                port = conn.execute("insert into ha_log (port) values (inet_server_port()) returning port").fetchone()[0]
            else:
                port = conn.execute("select inet_server_port()").fetchone()[0]
                conn.commit()
            record(t0, kind, True, port)
        except psycopg.Error as e:
            record(t0, kind, False, e.sqlstate or "conn")
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.05)
        time.sleep(0.02)

ts = [threading.Thread(target=worker, args=(k,)) for k in "wwwrrr"]
for t in ts: t.start()
for t in ts: t.join()
open(out, "w").write("\n".join(lines) + "\n")
PY
"$PYTHON" "$T/load.py" "$(conn scram_u ha)" $((14 * VG_SLOW)) "$T/load.txt" &
LOAD=$!
sleep $((3 * VG_SLOW))
T_STOP=$(date +%s.%N)
pg_stop main immediate
T_STOPPED=$(date +%s.%N) # the old primary answers until its stop is done
sleep 1.5
as_pg pg_ctl -D "$DIR_r1" -w promote >/dev/null || fail "promote r1"
T_PROMOTE=$(date +%s.%N)
# r2 follows the new primary (the new timeline is followed by default)
pgsql r2 -c "alter system set primary_conninfo = 'host=127.0.0.1 port=$R1 user=postgres'" -c "select pg_reload_conf()" >/dev/null
wait "$LOAD" || fail "the load script failed"
wait_row "show hosts" ha "$R1" role primary
wait_row "show hosts" ha "$P" state down
"$PYTHON" - "$T/load.txt" "$T_STOP" "$T_PROMOTE" "$P" "$R1" "$R2" "$VG_SLOW" "$T_STOPPED" <<'PY' || fail "failover under load"
import sys
path, t_stop, t_prom = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
P, R1, R2, slow = sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
t_stopped = float(sys.argv[8])
rows = [l.split() for l in open(path) if l.strip()]
rows = [(float(a), float(b), k, o == "1", w) for a, b, k, o, w in rows]
w = [r for r in rows if r[2] == "w"]
r = [r for r in rows if r[2] == "r"]
bad = []
def check(cond, msg):
    print(("ok - " if cond else "FAIL: ") + msg)
    cond or bad.append(msg)
check(all(x[4] == P for x in w if x[3] and x[1] < t_stop), "writes before the failure ran on the old primary")
check(len([x for x in w if x[3] and x[0] > t_stopped]) > 0 and
      all(x[4] == R1 for x in w if x[3] and x[0] > t_stopped), "writes after the failure ran on the promoted replica")
first = min((x[1] for x in w if x[3] and x[1] > t_prom), default=None)
check(first is not None and first - t_prom <= 2.0 * slow + 1.0,
      f"writes resumed {first - t_prom if first else -1:.2f} s after the promotion (two check periods: 2 s)")
wfail = [x for x in w if not x[3]]
# only what was in flight when the primary died may fail: one per writer,
# and a transaction that found a server the crash had just closed
check(len(wfail) <= 6 and all(x[0] <= t_stopped + 0.5 for x in wfail),
      f"only writes in flight at the crash failed: {[(round(x[0] - t_stop, 2), x[4]) for x in wfail]}")
rfail = [x for x in r if not x[3]]
check(len(rfail) <= 3, f"reads failed at most once per reader: {[(round(x[0] - t_stop, 2), x[4]) for x in rfail]}")
ends = sorted(x[1] for x in r if x[3])
gaps = [b - a for a, b in zip(ends, ends[1:])]
check(ends and max(gaps) < 1.0 * slow, f"reads kept flowing: longest gap between answers {max(gaps):.2f} s")
check(all(x[4] in (R1, R2) for x in r if x[3] and x[1] < t_stop), "reads before the failure ran on replicas")
check(all(x[4] == R2 for x in r if x[3] and x[0] > t_prom + 2.0 * slow + 1.0),
      "reads after the promotion ran on the remaining replica")
print(f"# {len(w)} writes ({len(wfail)} failed), {len(r)} reads ({len(rfail)} failed)")
sys.exit(1 if bad else 0)
PY
assert_contains "the move is logged" "database \"ha\": the primary is now 127.0.0.1:$R1" "$(cat "$T/pgtide.log")"
assert_contains "/metrics: the new primary" "pgtide_host_primary{database=\"ha\",host=\"127.0.0.1\",port=\"$R1\"} 1" \
	"$(curl -s "http://127.0.0.1:$METRICS/metrics")"

# the old primary rejoins as a standby of the new one, on its old port
as_pg rm -rf "$DIR_main"
as_pg pg_basebackup -h 127.0.0.1 -p "$R1" -U postgres -D "$DIR_main" -R -X stream -c fast >/dev/null 2>&1 ||
	fail "pg_basebackup from the new primary"
pg_configure "$DIR_main" "$P"
as_pg pg_ctl -D "$DIR_main" -l "$T/pg-main.log" -w -t 60 start >/dev/null || fail "the old primary did not start as a standby"
wait_row "show hosts" ha "$P" role replica 30
wait_row "show hosts" ha "$R2" role replica 30
wait_row "show hosts" ha "$P" state healthy 60
wait_row "show hosts" ha "$R2" state healthy 60 # it replays from the rejoined standby (cascading): slow on a loaded machine
got=$(ports scram_u ha 4)
case $got in *"$P"*"$R2"* | *"$R2"*"$P"*) ok "the old primary serves reads as a replica ($got)" ;; *) fail "reads after the rejoin: [$got]" ;; esac
assert_eq "writes stay on the new primary" "$R1" \
	"$(psql -X -q -At "$(conn scram_u ha)" -c 'insert into ha_log (port) values (inet_server_port()) returning port')"

# two hosts claim the primary role: writes wait rather than split
claims() { grep -c "database \"ha\": 2 hosts claim to be the primary" "$T/pgtide.log"; }
claims_before=$(claims)
as_pg pg_ctl -D "$DIR_r2" -w promote >/dev/null || fail "promote r2"
more_claims() { [ "$(claims)" -gt "$claims_before" ]; }
wait_for 20 "the log never said that two hosts claim the primary role" more_claims
assert_contains "SHOW HOSTS: why writes wait" "another host also claims to be the primary" "$(adm "show hosts")"
count() { echo "$(pgsql r1 -c "select count(*) from ha_log"):$(pgsql r2 -c "select count(*) from ha_log")"; }
before=$(count)
timeout 3 psql -X -q -At "$(conn scram_u ha)" -c 'insert into ha_log (port) values (inet_server_port())' >/dev/null 2>&1
assert_eq "a write during the split reached neither primary" "$before" "$(count)"
got=$(ports scram_u ha 2)
assert_eq "reads go on to the standby" "$P $P " "$got"
