#!/bin/bash
# Simple and extended protocol, pipelines, COPY both ways, cancel, errors
# and notices, through pgtide in transaction mode with a small pool.
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main -c "create table copy_k (k int)" >/dev/null || fail "table"
write_config "$T/pgtide.ini" main "default_pool_size = 2" "[databases]" "one = host=127.0.0.1 port=$PORT_main dbname=postgres pool_size=1"
pgtide_start "$T/pgtide.ini"
CI="host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app"

assert_eq "simple query" "1|postgres" "$(tsql -c 'select 1, current_user')"
assert_eq "multi-statement query" "3" "$(tsql -c 'select 1; select 2; select 3' | tail -1)"
assert_eq "transaction block" "2" "$(tsql -c 'begin' -c 'create temp table t(x int)' -c 'insert into t values (1),(2)' -c 'select count(*) from t' -c 'commit' | tail -1)"
assert_eq "empty query" "" "$(tsql -c ';')"
"$TESTBIN/pqtool" extended "$CI" 200 || fail "extended protocol"
ok "PQexecParams x200"
"$TESTBIN/pqtool" pipeline "$CI" 50 || fail "pipeline"
ok "libpq pipeline with an error in the middle and a second batch"
"$TESTBIN/pqtool" copy "$CI" 5000 || fail "copy"
ok "COPY FROM STDIN and TO STDOUT, 5000 rows; a failed COPY leaves the connection usable"
"$TESTBIN/pqtool" errors "$CI" || fail "errors"
ok "errors keep the connection usable, 25P02 in an aborted block"
"$TESTBIN/pqtool" cancel "$CI" || fail "cancel"
ok "PQcancel interrupts pg_sleep with 57014"

# What a client is told of itself: a backend pid that no real backend can
# have (Linux pids stay below 2^22), so pg_terminate_backend() on it hits
# nothing; client_encoding in Postgres's own spelling, whatever the client
# wrote; and PREPARE TRANSACTION is two-phase commit, not a statement name
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "what a client is told"
import sys, psycopg
port = int(sys.argv[1])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"
with psycopg.connect(ci, autocommit=True) as c:
    pid = c.info.backend_pid
    assert pid >= 1 << 22 and pid < 1 << 31, pid
    assert c.execute("select pg_terminate_backend(%s)", (pid,)).fetchone()[0] is False
    assert c.execute("select 1").fetchone()[0] == 1
for spelled in ("utf8", "UTF-8", "unicode"):
    with psycopg.connect(ci, client_encoding=spelled) as c:
        assert c.info.parameter_status("client_encoding") == "UTF8", (spelled, c.info.parameter_status("client_encoding"))
        assert c.execute("show client_encoding").fetchone()[0] == "UTF8"
with psycopg.connect(ci, client_encoding="latin1") as c:
    assert c.info.parameter_status("client_encoding") == "LATIN1"
with psycopg.connect(ci, autocommit=True) as c:
    c.execute("create table if not exists twophase (k int)")
    c.execute("begin")
    c.execute("insert into twophase values (1)")
    c.execute("prepare transaction 'pgtide-2pc'")
    c.execute("commit prepared 'pgtide-2pc'")
    assert c.execute("select count(*) from twophase").fetchone()[0] == 1
    c.execute("begin; insert into twophase values (2); prepare transaction 'pgtide-2pc2'")
    c.execute("rollback prepared 'pgtide-2pc2'")
    assert c.execute("select count(*) from twophase").fetchone()[0] == 1
PY
ok "backend pid beyond any real pid; client_encoding as Postgres spells it; PREPARE TRANSACTION passes"

# large messages both ways (bigger than an I/O buffer)
big=$(tsql -c "select length(repeat('x', 5000000))")
assert_eq "5 MB result row" "5000000" "$big"
printf "select length('%s')" "$(head -c 300000 /dev/zero | tr '\0' 'y')" >"$T/big.sql"
big=$(tsql -f "$T/big.sql")
assert_eq "300 kB query text" "300000" "$big"
rows=$(tsql -c "select count(*) from (select repeat('z', 100) from generate_series(1,200000)) s")
assert_eq "200k rows counted" "200000" "$rows"
n=$(tsql -c "select repeat('z', 100) from generate_series(1,100000)" | wc -l)
assert_eq "100k rows streamed to the client" "100000" "$n"

# A COPY the server fails early, while the client is still sending a large
# CopyData in pieces: the server goes to the next client only after the
# rest of that message (else the next client's bytes would complete it).
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "COPY failed mid-message"
import struct, sys, threading, time, psycopg
from rawclient import Conn, msg, query
port = int(sys.argv[1])
c = Conn(port)
msgs, last = c.login(db="one")
assert last[0] == "Z", msgs
c.send(query("COPY copy_k FROM STDIN"))
_, last = c.read_until("GE")
assert last[0] == "G", last
c.send(msg("d", b"not a number\n"))
big = 4 * 1024 * 1024
c.send(b"d" + struct.pack("!I", big + 4) + b"1\n" * 50000)  # the head of a 4 MB CopyData
msgs, last = c.read_until("Z")                              # the COPY failed: 22P02, then idle
assert any(m[0] == "E" for m in msgs) and last == ("Z", b"I"), msgs
answer = []
def other():  # another client of the pool's one server, waiting now
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=one") as o:
        answer.append(o.execute("select 42").fetchone()[0])
t = threading.Thread(target=other, daemon=True)
t.start()
time.sleep(0.5)
rest = big - 100000
for i in range(0, rest, 65536):
    c.send(b"1\n"[: 1] * min(65536, rest - i))
c.send(msg("c"))                                  # CopyDone: ignored after the failure
c.send(query("select 7"))
msgs, last = c.read_until("Z")
assert [m for m in msgs if m[0] == "D"] and last == ("Z", b"I"), msgs
t.join(10)
assert answer == [42], answer
PY
ok "a COPY failed while its client sent a CopyData in pieces: the server waits for the rest, then serves the next client"

# A client closed for a malformed message while it is still sending, and
# before it has read its last reply: it gets that reply and the FATAL that
# says why, then the end. (A plain close() with its bytes unread makes the
# kernel send a reset and drop what pgtide had not sent yet: the client
# saw a reset after part of the reply and no error.)
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "lingering close"
import socket, struct, sys, time
from rawclient import Conn, error_fields, query
c = Conn(int(sys.argv[1]))
msgs, last = c.login()
assert last[0] == "Z", msgs
c.send(query("select repeat('x', 1000) from generate_series(1, 3000)"))  # 3 MB, not read yet
time.sleep(0.5)
c.send(b"q" + struct.pack("!I", 4))  # not a message type: pgtide closes with FATAL 08P01
try:
    for _ in range(50):
        c.send(b"junk" * 4096)  # and the client goes on sending
except OSError:
    pass
rows, err = 0, None
try:
    while True:
        m = c.read_msg()
        if m is None:
            break
        if m[0] == "D":
            rows += 1
        elif m[0] == "E":
            err = error_fields(m[1])
except ConnectionResetError:
    raise SystemExit(f"connection reset after {rows} rows: the error was lost")
assert err and err["S"] == "FATAL" and err["C"] == "08P01", (rows, err)
print(f"# {rows} rows, then {err['S']} {err['C']}: {err['M']}")
PY
ok "a client closed for a malformed message while sending gets its reply, then the FATAL"

# A pipeline whose server dies under it, with the block's ROLLBACK among
# what was sent: the block is over whatever became of the ROLLBACK, so
# the client is told it is outside one (status I, "did not run"), not in a
# failed block (25P02) it would have to ROLLBACK again. The BEGIN's answer
# comes first and ends nothing. (The server dies of a Query sent during
# its COPY FROM STDIN: Postgres ends the connection.)
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "an exit in flight when the server dies"
import sys
from rawclient import Conn, error_fields, query
for attempt in range(2):  # the second on a server already logged in (all sent before any reply)
    c = Conn(int(sys.argv[1]))
    msgs, last = c.login(db="one")
    assert last[0] == "Z", msgs
    c.send(query("BEGIN") + query("COPY copy_k FROM STDIN") + query("SELECT 1") + query("ROLLBACK"))
    states, codes = [], []
    while len(states) < 4:
        m = c.read_msg()
        assert m is not None, (states, codes)
        if m[0] == "Z":
            states.append(m[1].decode())
        elif m[0] == "E":
            codes.append(error_fields(m[1])["C"])
    assert states[0] == "T", states                       # BEGIN
    assert states[-1] == "I" and "25P02" not in codes, (states, codes)
    c.send(query("SELECT 2"))
    msgs, last = c.read_until("Z")
    assert last == ("Z", b"I") and any(m[0] == "D" for m in msgs), msgs
    print(f"# ReadyForQuery {states}, errors {codes}")
    c.close()
PY
ok "a server lost with the block's ROLLBACK in flight: the client is outside the block"

# notices reach the client
out=$(psql -X -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app -c "do \$\$ begin raise notice 'note-%', 7; end \$\$" 2>&1)
assert_contains "notice passthrough" "NOTICE:  note-7" "$out"

# SSLRequest is answered 'N' and psql goes on in the clear
assert_eq "sslmode=prefer falls back" "1" "$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app sslmode=prefer" -c 'select 1')"
out=$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app sslmode=require" -c 'select 1' 2>&1)
assert_contains "sslmode=require is refused while TLS is off" "does not support SSL" "$out"

# unix socket listener
assert_eq "unix socket" "1" "$(psql -X -At -h "$T" -p "$PGTIDE_PORT" -U postgres app -c 'select 1')"

# unknown database and startup parameters
out=$(psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=nope_db" -c 'select 1' 2>&1)
assert_contains "unknown database goes to the * fallback (and Postgres refuses it)" "nope_db" "$out"
# any other setting in options (PGOPTIONS) or the startup packet follows
# the client like a SET; a name no setting can have is refused at login,
# one Postgres does not know fails the first statement, with its SQLSTATE
out=$(PGOPTIONS="-c work_mem=64MB -c search_path=pg_catalog" psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'show work_mem' -c 'show search_path' 2>&1)
assert_eq "settings in options follow the client" "64MB
pg_catalog" "$out"
out=$(PGOPTIONS="-c work\\ mem=64MB" psql -X -At "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'select 1' 2>&1)
assert_contains "a setting name with odd characters is refused at login" "invalid startup parameter name" "$out"
out=$(PGOPTIONS="-c no_such.x=1 -c no_such_setting=1" psql -X -At -v VERBOSITY=verbose "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=app" -c 'select 1' -c 'select 2' 2>&1)
assert_contains "an unknown setting fails the first statement (42704)" "42704" "$out"
assert_contains "... then the session goes on" "2" "$out"

kill -0 "$PGTIDE_PID" || fail "pgtide died"
ok "pgtide still running"
