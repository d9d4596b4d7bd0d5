#!/bin/bash
# Peers: several pgtide processes serving one address. A CancelRequest
# arrives on a new connection, which the kernel (so_reuseport) or HAProxy
# hands to any process; with [peers] the one that gets it forwards it to the
# owner. Every assertion is about real queries: a canceled pg_sleep ends
# with 57014 at once, a lost cancel lets it run to its end.
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c 'import psycopg' 2>/dev/null || { echo "SKIP: python3-psycopg (psycopg 3) not installed"; exit 77; }
command -v haproxy >/dev/null || { echo "SKIP: haproxy not installed (tests/install-deps.sh installs it)"; exit 77; }

pg_start main
PORT=$(free_port)
N=$((100 / VG_SLOW))
[ "$N" -lt 20 ] && N=20 # the phase with two peers missing loses ~37 %: never 0 of 20
SLEEP=$((4 * VG_SLOW))
WAIT=$((VG_SLOW > 1 ? 3 : 1))

# base.ini for every process; pN.ini includes it and says who it is
base() { # base [PEER_LINES...]
	cat >"$T/base.ini" <<CONF
[databases]
app = host=127.0.0.1 port=$PORT_main dbname=postgres

[pgtide]
listen_addr = 127.0.0.1
listen_port = $PORT
so_reuseport = 1
auth_type = trust
admin_users = admin
default_pool_size = 60
max_client_conn = 400
log_connections = 0
log_disconnections = 0
CONF
	if [ $# -gt 0 ]; then
		echo "[peers]" >>"$T/base.ini"
		for l in "$@"; do echo "$l" >>"$T/base.ini"; done
	fi
}
proc() { # proc ID [peer_id]: write pID.ini
	mkdir -p "$T/p$1"
	cat >"$T/p$1.ini" <<CONF
%include $T/base.ini
[pgtide]
listen_port = $PORT
unix_socket_dir = $T/p$1
logfile = $T/p$1.log
${2:+peer_id = $2}
CONF
}
start_all() { # start_all N [peers]: N processes on one port
	PROCS=()
	for i in $(seq "$1"); do
		proc "$i" ${2:+$i}
		pgtide_start "$T/p$i.ini"
		PROCS+=("$PGTIDE_PID")
	done
}
stop_all() {
	for p in "${PROCS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${PROCS[@]}"; do
		for _ in $(seq $((100 * VG_SLOW))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
}
cancels() { # cancels HOST PORT [args]: JSON
	"$PYTHON" "$srcdir/tests/integration/cancel_load.py" "$1" "$2" "$N" "$SLEEP" --wait "$WAIT" "${@:3}"
}
field() { "$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }
adm_p() { psql -X -q -At -h "$T/p$1" -p "$PORT" -U admin pgtide -c "$2"; }
# forge N: N cancel requests for clients of peer 5 (down), 10 ms apart
forge() {
	"$PYTHON" - "$PORT" "$1" <<'PY'
import socket, struct, sys, time
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(struct.pack("!IIII", 16, 80877102, 0x40000000 | (5 << 19) | 1, 1))
    s.close()
    time.sleep(0.01)
PY
}
PEERS4=()
for i in 1 2 3 4; do PEERS4+=("$i = host=$T/p$i port=$PORT"); done

# ---- without peers: cancels land on the wrong process and are lost ----
base
start_all 4
out=$(cancels 127.0.0.1 "$PORT") || fail "cancels without peers: $out"
log "4 processes, no peers: $out"
lost=$(field lost "$out")
[ "$lost" -gt 0 ] && ok "without peers $lost of $N cancels are lost" || fail "without peers nothing was lost: $out"
stop_all

# ---- peers, one ini: 4 processes, 0 lost ----
base "${PEERS4[@]}"
start_all 4 peers
assert_eq "SHOW PEERS lists the four, this one marked" "1|no 2|yes 3|no 4|no" \
	"$(adm_p 2 "show peers" | cut -d'|' -f1,4 | xargs)"
assert_eq "SHOW PEER_POOLS: a row for each other peer, no cancel in flight" "1|0 3|0 4|0" \
	"$(adm_p 2 "show peer_pools" | cut -d'|' -f1,5 | xargs)"
out=$(cancels 127.0.0.1 "$PORT") || fail "cancels with peers: $out"
log "4 processes, peers: $out"
assert_eq "with peers: cancels that landed, of $N" "$N" "$(field landed "$out")"
assert_eq "with peers: none lost" "0" "$(field lost "$out")"
fwd=0
for i in 1 2 3 4; do
	f=$(adm_p "$i" "show peers" | awk -F'|' '{s += $5} END {print s + 0}')
	fwd=$((fwd + f))
done
[ "$fwd" -gt 0 ] && ok "SHOW PEERS counts the cancels forwarded ($fwd)" || fail "no forwarded cancel counted"

# a cancel with a random key cancels nothing, wherever it lands
out=$(cancels 127.0.0.1 "$PORT" --random-keys 200) || fail "random keys: $out"
assert_eq "200 random keys: nothing canceled" "0" "$(field landed "$out")"
assert_eq "... every query ran to its end" "$N" "$(field lost "$out")"

# a forwarded cancel is never forwarded again: one that says it was
# forwarded, for another peer, is dropped where it lands
"$PYTHON" - "$PORT" <<'PY' || fail "forwarded twice"
import socket, struct, sys
for peer in (1, 2, 3, 4, 9):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(struct.pack("!IIII", 16, 80877102, 0x80000000 | 0x40000000 | (peer << 19) | 1, 12345))
    s.settimeout(10)
    assert s.recv(1) == b"", "a cancel request connection must be closed once handled"
    s.close()
PY
total_fwd() {
	local t=0 i f
	for i in 1 2 3 4; do
		f=$(adm_p "$i" "show peers" | awk -F'|' '{s += $5} END {print s + 0}')
		t=$((t + f))
	done
	echo "$t"
}
before=$(total_fwd)
"$PYTHON" - "$PORT" <<'PY' || fail "forwarded twice"
import socket, struct, sys
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(struct.pack("!IIII", 16, 80877102, 0x80000000 | 0x40000000 | (3 << 19) | 7, 1))
    s.settimeout(10)
    assert s.recv(1) == b"", "a cancel request connection must be closed once handled"
    s.close()
PY
# each was handled (its connection closed) before nothing-forwarded is judged
assert_eq "cancels marked forwarded are not forwarded again" "$before" "$(total_fwd)"
stop_all

# ---- a peer that is down, and reload adding a peer ----
DEAD=$(free_port)
base "1 = host=$T/p1 port=$PORT" "2 = host=$T/p2 port=$PORT" "5 = host=127.0.0.1 port=$DEAD"
start_all 4 peers
# forged keys of the dead peer 5 among real cancels: the real ones are not
# held up (each forward is a connection of its own, in the event loop)
forge 50 &
FORGER=$!
out=$(cancels 127.0.0.1 "$PORT") || fail "cancels with peers 3, 4 unknown: $out"
wait "$FORGER"
log "peers 3 and 4 missing from [peers], peer 5 down: $out"
lost=$(field lost "$out")
[ "$lost" -gt 0 ] && ok "peers missing from [peers]: their clients' cancels are lost ($lost)" ||
	fail "nothing lost with two peers missing: $out"
failed=$(for i in 1 2 3 4; do adm_p "$i" "show peers" | awk -F'|' '$1 == 5 {print $6}'; done | awk '{s += $1} END {print s + 0}')
[ "$failed" -gt 0 ] && ok "SHOW PEERS counts the cancels the dead peer could not take ($failed)" ||
	fail "no failed forward counted"
base "${PEERS4[@]}" "5 = host=127.0.0.1 port=$DEAD"
for p in "${PROCS[@]}"; do kill -HUP "$p"; done
for i in 1 2 3 4; do
	for _ in $(seq $((50 * VG_SLOW))); do
		[ "$(adm_p "$i" "show peers" | grep -c .)" = 5 ] && break
		sleep 0.1
	done
	assert_eq "p$i reloaded: five peers" "5" "$(adm_p "$i" "show peers" | grep -c .)"
done
# and forged keys of the dead peer flow all along: nothing waits on it
forge 100 &
FORGER=$!
out=$(cancels 127.0.0.1 "$PORT") || fail "cancels after reload: $out"
wait "$FORGER"
log "after reload (peer 5 down, forged cancels for it): $out"
assert_eq "after reload adding peers 3 and 4: none lost" "0" "$(field lost "$out")"
assert_eq "... all landed" "$N" "$(field landed "$out")"
slow=$(field slowest_cancel_ms "$out")
"$PYTHON" -c "import sys; sys.exit(0 if $slow < 1000 * $VG_SLOW else 1)" &&
	ok "a dead peer delays no other cancel (slowest $slow ms; a forward to it gives up after 2 s)" ||
	fail "cancels took $slow ms with a dead peer"
stop_all

# ---- two instances on two ports behind HAProxy (round-robin, TCP) ----
A=$(free_port) B=$(free_port) H=$(free_port)
for inst in 1 2; do
	port=$A
	[ $inst = 2 ] && port=$B
	mkdir -p "$T/i$inst"
	cat >"$T/i$inst.ini" <<CONF
[databases]
app = host=127.0.0.1 port=$PORT_main dbname=postgres
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $T/i$inst
auth_type = trust
admin_users = admin
default_pool_size = 60
max_client_conn = 400
log_connections = 0
log_disconnections = 0
logfile = $T/i$inst.log
peer_id = $inst
[peers]
1 = host=127.0.0.1 port=$A
2 = host=127.0.0.1 port=$B
CONF
done
# the health check logs in to the admin console (user admin, database
# pgtide) and expects an authentication message: the process answers
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
body="00030000$(hex user)00$(hex admin)00$(hex database)00$(hex pgtide)0000"
len=$(printf '%08x' $((4 + ${#body} / 2)))
cat >"$T/haproxy.cfg" <<CONF
global
	maxconn 1000
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
	timeout check 2s
listen pgtide
	bind 127.0.0.1:$H
	balance roundrobin
	option tcp-check
	tcp-check connect
	tcp-check send-binary $len$body
	tcp-check expect binary 52
	server a 127.0.0.1:$A check inter 500ms
	server b 127.0.0.1:$B check inter 500ms
CONF
haproxy -c -f "$T/haproxy.cfg" >/dev/null 2>&1 || { haproxy -c -f "$T/haproxy.cfg"; fail "haproxy config"; }
run_pair() { # run_pair: both instances and HAProxy
	PROCS=()
	for inst in 1 2; do
		pgtide_start "$T/i$inst.ini"
		PROCS+=("$PGTIDE_PID")
	done
	haproxy -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
	HA_PID=$!
	PIDS+=("$HA_PID")
	for _ in $(seq 50); do
		"$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $H), 0.2)" 2>/dev/null && break
		sleep 0.1
	done
	sleep 1.5 # the health checks mark both up
}
run_pair
out=$(cancels 127.0.0.1 "$H") || fail "cancels through haproxy: $out"
log "two instances behind HAProxy: $out"
assert_eq "behind HAProxy: none lost" "0" "$(field lost "$out")"
assert_eq "... all landed" "$N" "$(field landed "$out")"
assert_eq "instance 1 knows both peers" "2" "$(psql -X -q -At -h 127.0.0.1 -p "$A" -U admin pgtide -c "show peers" | grep -c .)"
kill "$HA_PID"
stop_all
