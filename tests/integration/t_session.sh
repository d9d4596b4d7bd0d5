#!/bin/bash
# Session state never crosses from one client to another (README "What a
# session keeps in transaction mode"). Two tenants share one server
# connection (a pool of 1, so a leak cannot hide): nothing the first leaves
# (temporary tables, cursors, roles, settings, locks, notifications,
# prepared statements) is seen or used by the second, in the simple and
# the extended protocol. Settings follow their client across servers;
# LISTEN delivers to its client only; pgbench with a session SET per
# client fails nothing.
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main >/dev/null <<'SQL' || fail "schema"
CREATE ROLE app LOGIN;
CREATE ROLE acme LOGIN;
CREATE ROLE bypass BYPASSRLS;
GRANT bypass TO app;
GRANT CREATE ON SCHEMA public TO app, acme;
CREATE TABLE notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON notes
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app, acme, bypass;
GRANT USAGE ON SEQUENCE notes_id_seq TO app, acme, bypass;
INSERT INTO notes (tenant_id, body) SELECT 't' || n, 'secret of t' || n FROM generate_series(1, 10) n, generate_series(1, n);
INSERT INTO notes (tenant_id, body) VALUES ('acme', 'acme row');
-- state made where no lexer can see it: dynamic SQL in a function
CREATE FUNCTION hide() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE %s TABLE hidden AS SELECT 1 AS x', 'TEMP');
  PERFORM set_config('app.' || 'hidden', 'yes', false);
  RETURN 1;
END $$;
SQL
P=$PORT_main

# A: one server for everyone, one of it may be kept for a client.
write_config "$T/a.ini" main "default_pool_size = 1" "max_bound_servers = 1" "max_client_conn = 200" \
	"[databases]" "shared = host=127.0.0.1 port=$P dbname=postgres user=app" "[users]" "acme = tenant=acme"
pgtide_start "$T/a.ini"
PORT_A=$PGTIDE_PORT
# B: two servers, so settings must follow their client between them.
write_config "$T/b.ini" main "default_pool_size = 2" "max_bound_servers = 1" "max_client_conn = 200" \
	"logfile = $T/pgtide-b-file.log"
pgtide_start "$T/b.ini"
PORT_B=$PGTIDE_PORT
# C: as A with tenant_switch_reset = off: what the lexer cannot see leaks,
# which shows the check below can fail.
write_config "$T/c.ini" main "default_pool_size = 1" "tenant_switch_reset = off" "logfile = $T/pgtide-c-file.log" \
	"[databases]" "shared = host=127.0.0.1 port=$P dbname=postgres user=app" "[users]" "acme = tenant=acme"
pgtide_start "$T/c.ini"
PORT_C=$PGTIDE_PORT
# D: the default max_bound_servers (half of a pool of 1: none).
write_config "$T/d.ini" main "default_pool_size = 1" "logfile = $T/pgtide-d-file.log"
pgtide_start "$T/d.ini"
PORT_D=$PGTIDE_PORT

"$PYTHON" - "$PORT_A" "$PORT_B" "$PORT_C" "$PORT_D" "$P" <<'PY' || fail "session isolation"
import sys, threading, time
import psycopg
from psycopg import errors

PA, PB, PC, PD, PG = (int(x) for x in sys.argv[1:6])
failures = []
checks = 0


def check(what, ok, detail=""):
    global checks
    checks += 1
    if not ok:
        failures.append(f"{what}: {detail}")
    print(("ok - " if ok else "not ok - ") + what + ("" if ok else f" ({detail})"))


def conn(port, tenant=None, user="app", db="app"):
    opts = f"-c app.current_tenant_id={tenant}" if tenant else ""
    return psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname={db}", autocommit=True, options=opts)


def run(c, sql, proto, params=None):
    """simple: the Query message; extended: Parse/Bind/Execute/Sync."""
    if proto == "simple":
        return c.execute(sql)
    return c.execute(sql, params or None, binary=True)


def sqlstate(fn):
    try:
        fn()
        return None
    except psycopg.Error as e:
        return e.sqlstate


def direct(sql):
    with psycopg.connect(f"host=127.0.0.1 port={PG} user=postgres dbname=postgres", autocommit=True) as d:
        return d.execute(sql).fetchall()


for proto in ("simple", "extended"):
    # temporary table: t5 stashes its rows; after it leaves, t7 finds nothing
    a = conn(PA, "t5")
    run(a, "CREATE TEMP TABLE stash AS SELECT * FROM notes", proto)
    check(f"{proto}: t5 reads its stash", run(a, "SELECT count(*) FROM stash", proto).fetchone()[0] == 5)
    a.close()
    b = conn(PA, "t7")
    check(f"{proto}: t7 cannot read t5's temp table", sqlstate(lambda: run(b, "SELECT * FROM stash", proto)) == "42P01")
    b.close()

    # a temp table shadowing a real one cannot capture another tenant's writes
    a = conn(PB, "t3")
    run(a, "CREATE TEMP TABLE notes (id int, tenant_id text, body text)", proto)
    b = conn(PB, "t9")
    run(b, "INSERT INTO notes (tenant_id, body) VALUES ('t9', 'written by t9 " + proto + "')", proto)
    check(f"{proto}: t3's temp 'notes' did not take t9's write",
          run(a, "SELECT count(*) FROM notes", proto).fetchone()[0] == 0)
    check(f"{proto}: t9's write is in the real table",
          run(b, "SELECT count(*) FROM notes WHERE body = 'written by t9 " + proto + "'", proto).fetchone()[0] == 1)
    a.close(); b.close()

    # WITH HOLD cursor
    a = conn(PA, "t4")
    run(a, "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM notes", proto)
    check(f"{proto}: t4 fetches from its cursor", len(run(a, "FETCH 2 FROM c", proto).fetchall()) == 2)
    a.close()
    b = conn(PA, "t8")
    check(f"{proto}: t8 cannot fetch from t4's cursor", sqlstate(lambda: run(b, "FETCH ALL FROM c", proto)) == "34000")
    b.close()

    # SET ROLE follows t1 only
    a = conn(PA, "t1")
    run(a, "SET ROLE bypass", proto)
    b = conn(PA, "t10")
    row = run(b, "SELECT current_user, count(*) FROM notes", proto).fetchone()
    check(f"{proto}: t10 does not run as t1's role", row == ("app", 10), row)
    row = run(a, "SELECT current_user, count(*) FROM notes", proto).fetchone()
    check(f"{proto}: t1 keeps its role (bypassrls sees all)", row[0] == "bypass" and row[1] > 10, row)
    a.close(); b.close()

    # session settings: another client never runs with them
    a = conn(PA, "t2")
    run(a, "SET search_path = pg_catalog, public", proto)
    run(a, "SET statement_timeout = '123s'", proto)
    run(a, "SELECT set_config('app.user_id', '42', false)", proto)
    b = conn(PA, "t6")
    row = run(b, "SELECT current_setting('search_path'), current_setting('statement_timeout'), "
                 "coalesce(current_setting('app.user_id', true), '')", proto).fetchone()
    check(f"{proto}: t6 has none of t2's settings", row == ('"$user", public', "0", ""), row)
    row = run(a, "SELECT current_setting('search_path'), current_setting('statement_timeout'), "
                 "current_setting('app.user_id', true)", proto).fetchone()
    check(f"{proto}: t2 keeps its settings", row == ("pg_catalog, public", "123s", "42"), row)
    run(a, "RESET ALL", proto)
    row = run(a, "SELECT current_setting('statement_timeout'), coalesce(current_setting('app.user_id', true), '')",
              proto).fetchone()
    check(f"{proto}: RESET ALL is t2's own", row == ("0", ""), row)
    a.close(); b.close()

    # session advisory lock: released when its client leaves
    a = conn(PA, "t1")
    run(a, "SELECT pg_advisory_lock(42)", proto)
    check(f"{proto}: the lock is held while t1 is here",
          direct("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 1)
    a.close()
    time.sleep(0.3)
    check(f"{proto}: t1 left: its advisory lock is gone",
          direct("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0)

    # DEALLOCATE ALL in a multi-statement string or a block breaks no one
    a = conn(PA, "t2")
    if proto == "simple":
        check("simple: 'SELECT 1; DEALLOCATE ALL' refused (0A000)",
              sqlstate(lambda: a.execute("SELECT 1; DEALLOCATE ALL")) == "0A000")
    with a.transaction():
        run(a, "DEALLOCATE ALL", proto)
    b = conn(PA, "t3")
    check(f"{proto}: the next client's transaction runs after DEALLOCATE ALL",
          run(b, "SELECT count(*) FROM notes", proto).fetchone()[0] == 3)
    check(f"{proto}: prepared statements still work",
          b.execute("SELECT count(*) FROM notes WHERE id > %s", (0,), prepare=True).fetchone()[0] == 3)
    a.close(); b.close()

# the binding limit, named in the error
d = conn(PD, "t1")
e = None
try:
    d.execute("CREATE TEMP TABLE x (a int)")
except psycopg.Error as ex:
    e = ex
check("no server may be kept: 53400 naming max_bound_servers",
      e is not None and e.sqlstate == "53400" and "max_bound_servers" in str(e), e)
check("the refused client goes on", d.execute("SELECT count(*) FROM notes").fetchone()[0] == 1)
check("ON COMMIT DROP in a block needs no binding", d.execute(
    "BEGIN; CREATE TEMP TABLE y (a int) ON COMMIT DROP; INSERT INTO y VALUES (1); COMMIT") is not None)
d.close()

# settings follow their client across the two servers of B
a = conn(PB, "t1"); b = conn(PB, "t2")
a.execute("SET work_mem = '16MB'"); a.execute("SET application_name = 'client-a'")
a.execute("SELECT set_config('app.user_id', 'a', false)")
b.execute("SET work_mem = '8MB'"); b.execute("SELECT set_config('app.user_id', 'b', false)")
blocker = conn(PB, "t9")
pids = set()
bad = []
for i in range(60):
    # a third client holds one server now and then, so a and b move
    if i % 5 == 0:
        blocker.execute("BEGIN"); blocker.execute("SELECT 1")
    elif i % 5 == 3:
        blocker.execute("COMMIT")
    c, want = (a, ("16MB", "a")) if i % 2 == 0 else (b, ("8MB", "b"))
    if i % 3 == 0:
        c.execute("BEGIN")
        row = c.execute("SELECT current_setting('work_mem'), current_setting('app.user_id'), pg_backend_pid()").fetchone()
        c.execute("COMMIT")
    else:
        row = c.execute("SELECT current_setting('work_mem'), current_setting('app.user_id'), pg_backend_pid()",
                        binary=(i % 4 == 1)).fetchone()
    pids.add(row[2])
    if row[:2] != want:
        bad.append((i, row))
check("settings follow each client across servers", not bad and len(pids) == 2, (bad[:3], len(pids)))
a.close(); b.close(); blocker.close()

# LISTEN: delivered to its client across transactions, never to another
got = {"a": [], "b": []}
a = conn(PB, "t1"); b = conn(PB, "t2"); n = conn(PB, "t3")
a.add_notify_handler(lambda x: got["a"].append(x.payload))
b.add_notify_handler(lambda x: got["b"].append(x.payload))
a.execute("LISTEN jobs")
b.execute("LISTEN other")
n.execute("NOTIFY jobs, 'one'")
time.sleep(0.3)  # delivered while a is between transactions
a.execute("BEGIN"); a.execute("SELECT 1")
n.execute("SELECT pg_notify('jobs', 'during a transaction')")
time.sleep(0.2)
a.execute("SELECT 2")
check("a notification waits for its listener's transaction to end", got["a"] == ["one"], got["a"])
a.execute("COMMIT")
time.sleep(0.2)
a.execute("SELECT 1"); b.execute("SELECT 1")
check("LISTEN delivers to its client", got["a"] == ["one", "during a transaction"], got["a"])
check("... and never to another", got["b"] == [], got["b"])
n.execute("NOTIFY other, 'for b'")
time.sleep(0.2); b.execute("SELECT 1")
check("another channel, another client", got["b"] == ["for b"], got["b"])
a.execute("UNLISTEN jobs")
n.execute("NOTIFY jobs, 'after unlisten'")
time.sleep(0.2); a.execute("SELECT 1")
check("UNLISTEN stops delivery", got["a"] == ["one", "during a transaction"], got["a"])
binds = direct("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND usename = 'app'")[0][0]
check("LISTEN binds no server (one shared listener)", binds <= 1, binds)
# a session's own NOTIFY reaches it before the reply to the NOTIFY, as
# from Postgres, every time (simple and extended protocol, pg_notify)
own = []
pids = set()
a.add_notify_handler(lambda x: (own.append(x.payload), pids.add(x.pid)))
a.execute("LISTEN mine")
late = []
for i in range(15):
    before = len(own)
    a.execute(f"NOTIFY mine, 'n{i}'")
    if len(own) == before:
        late.append(i)
    a.execute("SELECT pg_notify('mine', %s)", (f"p{i}",))
    if len(own) == before + 1:
        late.append(f"p{i}")
check("a session's own notification arrives before its NOTIFY's reply (15 of 15)", not late, late)
check("... naming as its sender the pid the client was given", pids == {a.info.backend_pid}, (pids, a.info.backend_pid))
a.close(); b.close(); n.close()

# what no lexer can see: a bound user's function leaves a temp table and a
# setting; the next tenant's client gets a reset server (tenant_switch_reset).
# Database "shared" logs every client in as app: one pool for all of them.
for port, expect_leak, name in ((PA, False, "tenant_switch_reset = bound"), (PC, True, "tenant_switch_reset = off")):
    u = conn(port, user="acme", db="shared")
    u.execute("SELECT hide()")
    check(f"{name}: acme sees what it made", u.execute("SELECT count(*) FROM hidden").fetchone()[0] == 1)
    u.close()
    v = conn(port, "t5", db="shared")
    st = sqlstate(lambda: v.execute("SELECT * FROM hidden"))
    leaked = st is None
    check(f"{name}: the next tenant {'sees' if expect_leak else 'does not see'} acme's hidden temp table",
          leaked == expect_leak, st)
    v.close()

print(f"{checks} checks")
if failures:
    print("\n".join(failures))
    sys.exit(1)
PY

# pgbench: every client sets a session-level setting once and checks, on
# every later transaction, that it still has its own value, on whichever of
# the 2 servers runs it
cat >"$T/own.sql" <<'SQL'
SELECT coalesce(nullif(current_setting('app.k', true), ''), '-1')::int AS k \gset
\if :k = -1
SELECT set_config('app.k', :client_id::text, false);
\elif :k != :client_id
SELECT 1/0 AS another_clients_setting;
\endif
SQL
out=$(pgbench -n -h 127.0.0.1 -p "$PORT_B" -U app -c 8 -j 2 -t 150 -f "$T/own.sql" app 2>&1)
echo "$out" | grep -q "number of transactions actually processed: 1200/1200" ||
	{ echo "$out" >&2; fail "pgbench with a session setting per client"; }
echo "$out" | grep -q "number of failed transactions: 0" || { echo "$out" >&2; fail "pgbench reported failed transactions"; }
ok "pgbench: 8 clients, 2 servers, a session setting each: 1200 transactions, none failed, none saw another's"

# SHOW output says when a server is kept for a client
"$PYTHON" - "$PORT_A" <<'PY' || fail "SHOW CLIENTS bound column"
import sys, psycopg
port = int(sys.argv[1])
a = psycopg.connect(f"host=127.0.0.1 port={port} user=app dbname=app", autocommit=True)
a.execute("CREATE TEMP TABLE t (x int)")
adm = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=pgtide", autocommit=True)
cur = adm.execute("SHOW CLIENTS")
cols = [d.name for d in cur.description]
rows = [dict(zip(cols, r)) for r in cur.fetchall()]
assert any(r["bound"] == "a temporary object" for r in rows), rows
cur = adm.execute("SHOW POOLS")
cols = [d.name for d in cur.description]
pools = [dict(zip(cols, r)) for r in cur.fetchall() if r[0] == "app"]
assert pools and pools[0]["sv_bound"] == 1, pools
print("ok - SHOW CLIENTS and SHOW POOLS show the kept server")
PY
grep -q "kept for this client until it disconnects: a temporary object" "$T/pgtide.log" || fail "binding not logged"
ok "binding logged"
