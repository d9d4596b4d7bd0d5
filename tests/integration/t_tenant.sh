#!/bin/bash
# Tenant context: every statement of a client with tenant T sees T (RLS
# row counts prove it), in every protocol form and pool mode, with many
# tenants hammering a small pool; every way to get a wrong tenant is
# refused with the contract's SQLSTATE.
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE ROLE app LOGIN;
CREATE ROLE acme_app LOGIN;
CREATE TABLE items (id serial PRIMARY KEY, tenant_id text NOT NULL, v int);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON items
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO app, acme_app;
GRANT USAGE ON SEQUENCE items_id_seq TO app, acme_app;
-- tenant tN has N rows
INSERT INTO items (tenant_id, v) SELECT 't' || n, g FROM generate_series(1, 50) n, generate_series(1, n) g;
INSERT INTO items (tenant_id, v) SELECT 'acme', g FROM generate_series(1, 7) g;
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('app.current_tenant_id', true) $$;
SQL
P=$PORT_main
write_config "$T/pgtide.ini" main "default_pool_size = 4" "max_client_conn = 300" "log_connections = 0" "log_disconnections = 0" \
	"[databases]" "sess = host=127.0.0.1 port=$P dbname=postgres pool_mode=session pool_size=4" \
	"stmt = host=127.0.0.1 port=$P dbname=postgres pool_mode=statement pool_size=4" \
	"req = host=127.0.0.1 port=$P dbname=postgres tenant_required=1" \
	"[users]" "acme_app = tenant=acme"
pgtide_start "$T/pgtide.ini"

tq() { # tq TENANT SQL -> output, tenant given as a startup option
	PGOPTIONS="-c app.current_tenant_id=$1" psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app app -c "$2" 2>&1
}
assert_eq "startup option sets the tenant" "t7" "$(tq t7 'select whoami()')"
assert_eq "RLS sees only that tenant's rows" "7" "$(tq t7 'select count(*) from items')"
assert_eq "no tenant: empty" "" "$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app app -c 'select whoami()')"
assert_eq "no tenant: no rows" "0" "$(psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app app -c 'select count(*) from items')"
assert_eq "direct startup parameter" "t3|3" "$("$PYTHON" - "$PGTIDE_PORT" <<'PY' 2>&1
import sys, struct
from rawclient import Conn, startup_packet, query
c = Conn(int(sys.argv[1]))
c.send(startup_packet({"user": "app", "database": "app", "app.current_tenant_id": "t3"}))
c.read_until("Z")
c.send(query("select whoami(), count(*) from items"))
msgs, last = c.read_until("Z")
row = [m for m in msgs if m[0] == "D"][0][1]
vals, pos = [], 2
for i in range(struct.unpack("!H", row[:2])[0]):
    n = struct.unpack("!i", row[pos:pos + 4])[0]
    vals.append(row[pos + 4:pos + 4 + n].decode()); pos += 4 + n
print("|".join(vals))
PY
)"

# The big one: 50 tenants x several clients, a pool of 4, every protocol
# form; each client checks every answer is its own.
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "isolation under load"
import sys, threading, random, psycopg
port = int(sys.argv[1])
errors = []
checks = [0]
lock = threading.Lock()

def worker(tenant, mode, rounds):
    n = int(tenant[1:])
    try:
        c = psycopg.connect(f"host=127.0.0.1 port={port} user=app dbname=app", autocommit=True,
                            prepare_threshold=None, options=f"-c app.current_tenant_id={tenant}")
        for i in range(rounds):
            if mode == "simple":
                who, cnt = c.execute("select whoami(), (select count(*) from items)", prepare=False).fetchone()
                got = [(who, cnt)]
            elif mode == "extended":
                who, cnt = c.execute("select whoami(), (select count(*) from items) where %s = %s", (1, 1)).fetchone()
                got = [(who, cnt)]
            elif mode == "pipeline":
                with c.pipeline():
                    curs = [c.execute("select whoami(), (select count(*) from items where v <= %s)", (k + 100,)) for k in range(5)]
                got = [cur.fetchone() for cur in curs]
            else:  # explicit transaction, several statements
                with c.transaction():
                    a = c.execute("select whoami()").fetchone()[0]
                    b = c.execute("select count(*) from items").fetchone()[0]
                    c.execute("select pg_sleep(0.001)")
                    d = c.execute("select whoami()").fetchone()[0]
                got = [(a, b), (d, b)]
            for who, cnt in got:
                if who != tenant or cnt != n:
                    errors.append(f"{tenant}/{mode}: saw tenant {who!r} with {cnt} rows")
            with lock:
                checks[0] += len(got)
    except Exception as e:
        errors.append(f"{tenant}/{mode}: {e!r}")

threads = []
modes = ["simple", "extended", "pipeline", "transaction"]
for n in range(1, 51):
    for m in modes[: 1 + n % 4]:
        threads.append(threading.Thread(target=worker, args=(f"t{n}", m, 25)))
random.shuffle(threads)
for t in threads: t.start()
for t in threads: t.join()
if errors:
    print("\n".join(errors[:20]))
    raise SystemExit(f"{len(errors)} cross-tenant or failed observations")
print(f"ok - {len(threads)} clients of 50 tenants on 4 servers: {checks[0]} answers, all their own")
PY

# SET / RESET / set_config answered by pgtide, outside a transaction
out=$(psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app app <<'SQL' 2>&1
select whoami();
set app.current_tenant_id = 't5';
select whoami(), count(*) from items;
SET SESSION "App"."Current_Tenant_Id" TO t6;
select whoami(), count(*) from items;
select set_config('app.current_tenant_id', 't9', false);
select whoami(), count(*) from items;
reset app.current_tenant_id;
select count(*) from items;
SQL
)
assert_eq "SET, SET SESSION, set_config, RESET" "$(printf '\nt5|5\nt6|6\nt9\nt9|9\n0')" "$out"

# hostile tenant ids: 22023, connection stays usable
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "hostile ids"
import sys, psycopg
port = int(sys.argv[1])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=app dbname=app", autocommit=True, prepare_threshold=None)
bad = ["a'b", "x'; drop table items; --", "back\\slash", "semi;colon", "tab\there", "ünïcödé", "A" * 10240,
       "new\nline", "", "a b", "$$", "x" * 64]
forms = [lambda b: "set app.current_tenant_id = '" + b.replace("'", "''") + "'",
         lambda b: "set app.current_tenant_id to E'" + b.replace("\\", "\\\\").replace("'", "\\'") + "'",
         lambda b: "select set_config('app.current_tenant_id', '" + b.replace("'", "''") + "', false)"]
for b, form in [(b, f) for b in bad for f in forms]:
    try:
        c.execute(form(b))
        if b == "":
            continue  # '' clears the tenant
        raise SystemExit(f"accepted {b[:20]!r}")
    except psycopg.Error as e:
        assert e.sqlstate in ("22023", "42601"), (b[:20], e.sqlstate, str(e))
    assert c.execute("select 1").fetchone()[0] == 1
# at login: refused with 22023 naming the setting
for b in ["a'b", "x;y", "A" * 5000, "ünï"]:
    try:
        psycopg.connect(f"host=127.0.0.1 port={port} user=app dbname=app", options=f"-c app.current_tenant_id={b}")
        raise SystemExit(f"login accepted tenant {b[:20]!r}")
    except psycopg.OperationalError as e:
        assert "app.current_tenant_id" in str(e), str(e)
# NUL cannot even be sent by libpq; a raw client tries
from rawclient import Conn, startup_packet, error_fields
r = Conn(port)
r.send(startup_packet({"user": "app", "database": "app", "app.current_tenant_id": "ok\x01x"}))
msgs, last = r.read_until("EZ")
assert last[0] == "E" and error_fields(last[1])["C"] == "22023", msgs
PY
ok "hostile tenant ids refused with 22023, at login and by SET"

# a bound user cannot escape
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "bound user"
import sys, psycopg
port = int(sys.argv[1])
c = psycopg.connect(f"host=127.0.0.1 port={port} user=acme_app dbname=app", autocommit=True, prepare_threshold=None)
assert c.execute("select whoami(), count(*) from items").fetchone() == ("acme", 7)
attempts = [
    "set app.current_tenant_id = 't1'",
    "SET SESSION app.current_tenant_id TO t1",
    "reset app.current_tenant_id",
    "select set_config('app.current_tenant_id', 't1', false)",
    "select set_config('APP.CURRENT_TENANT_ID', 't1', true)",
    "select 1; set app.current_tenant_id = 't1'",
    "select set_config('app.' || 'current_tenant_id', 't1', false)",
    "select pg_catalog.set_config(E'app.current_tenant_id', 't1', false)",
    "do $$ begin perform set_config('app.current_tenant_id', 't1', false); end $$",
    'set "app"."current_tenant_id" = \'t1\'',
    "alter role acme_app set app.current_tenant_id = 't1'",
]
for a in attempts:
    try:
        c.execute(a)
        raise SystemExit(f"bound user ran: {a}")
    except psycopg.Error as e:
        assert e.sqlstate == "42501", (a, e.sqlstate, str(e))
    assert c.execute("select whoami(), count(*) from items").fetchone() == ("acme", 7), a
# inside a transaction too: the transaction fails (as on any error) and ROLLBACK ends it
c.execute("begin")
c.execute("select count(*) from items")
for a in ["set local app.current_tenant_id = 't1'", "select set_config('app.current_tenant_id','t1',true)"]:
    try:
        c.execute(a)
        raise SystemExit(f"bound user ran in a transaction: {a}")
    except psycopg.Error as e:
        assert e.sqlstate == "42501", (a, e.sqlstate)
    c.execute("rollback")
    c.execute("begin")
c.execute("rollback")
# extended protocol: the same refusal for Parse
try:
    c.execute("select set_config('app.current_tenant_id', %s, false)", ("t1",))
    raise SystemExit("extended set_config ran")
except psycopg.Error as e:
    assert e.sqlstate == "42501", e.sqlstate
# reading the setting is fine; setting it to its own value is a no-op
assert c.execute("show app.current_tenant_id").fetchone()[0] == "acme"
assert c.execute("select current_setting('app.current_tenant_id')").fetchone()[0] == "acme"
c.execute("set app.current_tenant_id = 'acme'")
# at login with another tenant: refused
try:
    psycopg.connect(f"host=127.0.0.1 port={port} user=acme_app dbname=app", options="-c app.current_tenant_id=t1")
    raise SystemExit("bound user logged in as another tenant")
except psycopg.OperationalError as e:
    assert "bound to tenant" in str(e), str(e)
PY
ok "bound user: every way to change the tenant refused with 42501, connection usable"

# tenant_required: an error on the first statement until a tenant is set
out=$(psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app req -c 'select 1' 2>&1)
assert_contains "tenant_required refuses the first statement" "a tenant is required" "$out"
out=$(psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app req -c "set app.current_tenant_id = 't2'" -c 'select count(*) from items' 2>&1)
assert_eq "tenant_required: fine once set" "2" "$out"

# session and statement modes carry the tenant too
assert_eq "session mode" "t4|4" "$(PGOPTIONS='-c app.current_tenant_id=t4' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app sess -c 'select whoami(), count(*) from items')"
assert_eq "statement mode" "t8|8" "$(PGOPTIONS='-c app.current_tenant_id=t8' psql -X -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U app stmt -c 'select whoami(), count(*) from items')"

# statements that refuse to run in a transaction block or pipeline
out=$(PGOPTIONS='-c app.current_tenant_id=t1' psql -X -q -At -h 127.0.0.1 -p "$PGTIDE_PORT" -U postgres app \
	-c 'vacuum items' -c 'create index concurrently items_v on items(v)' -c 'drop index concurrently items_v' \
	-c 'create database tenant_db' -c 'drop database tenant_db' -c 'select whoami()' 2>&1)
assert_eq "VACUUM, CREATE INDEX CONCURRENTLY, CREATE DATABASE work" "t1" "$out"

# isolation level and read-only after the tenant SET
out=$(tq t2 "begin isolation level serializable read only deferrable; select count(*) from items; commit;")
assert_eq "BEGIN ISOLATION LEVEL SERIALIZABLE still works" "2" "$out"

# a client crashing mid-transaction leaves nothing behind
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "crash"
import sys, socket, time, psycopg
from rawclient import Conn, startup_packet, query
port = int(sys.argv[1])
r = Conn(port)
r.send(startup_packet({"user": "app", "database": "app", "options": "-c app.current_tenant_id=t11"}))
r.read_until("Z")
r.send(query("begin; select count(*) from items;"))
r.read_until("Z")
r.s.close()  # crash with the transaction open
time.sleep(0.3)
for i in range(20):
    c = psycopg.connect(f"host=127.0.0.1 port={port} user=app dbname=app", autocommit=True, prepare_threshold=None)
    who, n = c.execute("select whoami(), count(*) from items").fetchone()
    assert who in ("", None) and n == 0, (who, n)
    c.close()
PY
ok "after a client crashed mid-transaction, tenant-less clients see nothing"
kill -0 "$PGTIDE_PID" || fail "pgtide died"

# A suspended unnamed portal survives the tenant SET of a pipelined group.
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "suspended portal"
import sys, struct
from rawclient import Conn, startup_packet, msg, query
c = Conn(int(sys.argv[1]))
c.send(startup_packet({"user": "app", "database": "app", "options": "-c app.current_tenant_id=t9"}))
c.read_until("Z")
def P(sql): return msg("P", b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
def B(): return msg("B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
def E(n): return msg("E", b"\0" + struct.pack("!I", n))
S = msg("S")
c.send(query("begin"))
c.read_until("Z")
c.send(P("select v from items order by v") + B() + E(3) + S)
msgs, _ = c.read_until("Z")
assert [m[0] for m in msgs] == ["1", "2", "D", "D", "D", "s", "Z"], msgs
# two more fetches pipelined in one write: the second group is set up
# while the first is in flight
c.send(E(3) + S + E(10) + S)
msgs, _ = c.read_until("Z")
rows = [m for m in msgs if m[0] == "D"]
assert len(rows) == 3 and msgs[-2][0] == "s", msgs
msgs, _ = c.read_until("Z")
rows = [m for m in msgs if m[0] == "D"]
assert len(rows) == 3 and msgs[-2][0] == "C", msgs  # t9 has 9 rows: 3 + 3 + 3
c.send(query("commit"))
c.read_until("Z")
PY
ok "a suspended unnamed portal keeps its place across a pipelined tenant SET"

# Fail closed: if setting the tenant fails on a server, the client's
# statement does not run at all. The tenant setting here is plpgsql.tenant:
# once a DO block has loaded PL/pgSQL, which reserves its prefix, that
# session refuses the SET. The INSERT behind the SET, in the same write,
# must not run, and the client must keep its connection.
write_config "$T/one.ini" main "default_pool_size = 1" "max_client_conn = 50" "tenant_setting = plpgsql.tenant"
pgtide_start "$T/one.ini"
"$PYTHON" - "$PGTIDE_PORT" "$PORT_main" <<'PY' || fail "fail closed"
import sys, psycopg
port, pgport = int(sys.argv[1]), int(sys.argv[2])
ci = f"host=127.0.0.1 port={port} user=app dbname=app"
a = psycopg.connect(ci, autocommit=True, prepare_threshold=None, options="-c plpgsql.tenant=t1")
assert a.execute("select current_setting('plpgsql.tenant', true)").fetchone()[0] == "t1"
b = psycopg.connect(ci, autocommit=True, prepare_threshold=None, options="-c plpgsql.tenant=t2")
for params in (None, (1,)):  # simple and extended protocol
    a.execute("do $$ begin perform 1; end $$")  # loads PL/pgSQL on the pool's one server
    try:
        b.execute("insert into items (tenant_id, v) values ('t1', -1)" + (" returning %s" if params else ""), params)
        raise SystemExit("the INSERT ran although the tenant could not be set")
    except psycopg.Error as e:
        assert e.sqlstate == "08006", (e.sqlstate, str(e))
        assert "plpgsql.tenant" in str(e), str(e)
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres")
assert admin.execute("select count(*) from items where v = -1").fetchone()[0] == 0
# the client keeps its connection; its next transaction gets a fresh server
assert b.execute("select current_setting('plpgsql.tenant', true)").fetchone()[0] == "t2"
PY
ok "a failed tenant SET stops the client's statement (fail closed), the client goes on"

# pgtide's own statements (the tenant SET, a client's session settings)
# leave nothing in pg_prepared_statements: applications count theirs
"$PYTHON" - "$PGTIDE_PORT" <<'PY' || fail "pg_prepared_statements"
import sys, psycopg
ci = f"host=127.0.0.1 port={sys.argv[1]} user=app dbname=app"
conns = [psycopg.connect(ci, autocommit=True, prepare_threshold=None, options=o)
         for o in ("-c plpgsql.tenant=t1", "-c plpgsql.tenant=t2", "", "-c work_mem=8MB")]
for rnd in range(3):
    for i, c in enumerate(conns):  # one server: every statement after another client's
        n = c.execute("select count(*) from pg_prepared_statements").fetchone()[0]
        assert n == 0, (rnd, i, n)
        n = c.execute("select count(*) from pg_prepared_statements where %s = %s", (1, 1)).fetchone()[0]
        assert n == 0, (rnd, i, n)
assert conns[3].execute("show work_mem").fetchone()[0] == "8MB"
PY
ok "no statement of pgtide's own in pg_prepared_statements (tenants, no tenant, session settings)"
