#!/bin/bash
# Pool modes (session with server_reset_query, statement), per-database and
# per-user modes, reserve pool, min_pool_size, max_db_connections,
# max_user_connections and server_check_query.
. "$(dirname "$0")/lib.sh"

pg_start main
pgsql main -c "create role other login" -c "create sequence checks" -c "grant usage on sequence checks to public" >/dev/null
P=$PORT_main
write_config "$T/pgtide.ini" main "default_pool_size = 2" \
	"server_check_delay = 0" "server_check_query = select nextval('checks')" \
	"[databases]" \
	"sess = host=127.0.0.1 port=$P dbname=postgres pool_mode=session pool_size=1" \
	"stmt = host=127.0.0.1 port=$P dbname=postgres pool_mode=statement" \
	"rsv = host=127.0.0.1 port=$P dbname=postgres pool_size=1 reserve_pool=1" \
	"minp = host=127.0.0.1 port=$P dbname=postgres min_pool_size=3" \
	"maxdb = host=127.0.0.1 port=$P dbname=postgres pool_size=5 max_db_connections=2" \
	"[pgtide]" "reserve_pool_timeout = 0.3" \
	"[users]" "other = pool_mode=session max_user_connections=1"
pgtide_start "$T/pgtide.ini"

"$PYTHON" - "$PGTIDE_PORT" "$PORT_main" <<'PY' || fail "modes"
import sys, time, threading, psycopg
port, pgport = int(sys.argv[1]), int(sys.argv[2])
def conn(db, user="postgres", **kw):
    return psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname={db}", autocommit=True,
                           prepare_threshold=None, **kw)
admin = psycopg.connect(f"host=127.0.0.1 port={pgport} user=postgres dbname=postgres", autocommit=True)
def backends(q="%"):
    return admin.execute("select count(*) from pg_stat_activity where backend_type='client backend' "
                         "and pid <> pg_backend_pid() and datname='postgres' and usename like %s", (q,)).fetchone()[0]

# session mode: session state lives as long as the client
s1 = conn("sess")
s1.execute("create temp table mine(x int)")
s1.execute("insert into mine values (1)")
s1.execute("set work_mem = '7MB'")
assert s1.execute("select count(*) from mine").fetchone()[0] == 1
assert s1.execute("show work_mem").fetchone()[0] == "7MB"
pid = s1.execute("select pg_backend_pid()").fetchone()[0]
s1.close()
time.sleep(0.3)
# the next client gets the same (only) server, reset by DISCARD ALL
s2 = conn("sess")
assert s2.execute("select pg_backend_pid()").fetchone()[0] == pid
assert s2.execute("select count(*) from pg_tables where tablename = 'mine'").fetchone()[0] == 0
assert s2.execute("show work_mem").fetchone()[0] != "7MB"
s2.close()
print("ok - session mode keeps session state, server_reset_query clears it for the next client")

# statement mode: single statements fine, transaction blocks refused
st = conn("stmt")
assert st.execute("select 1").fetchone()[0] == 1
try:
    st.execute("begin")
    st.execute("select 1")
    raise SystemExit("transaction block allowed in statement mode")
except psycopg.Error as e:
    assert "statement pool mode" in str(e), str(e)
print("ok - statement mode refuses transaction blocks")

# [users] pool_mode=session overrides the transaction default
o = conn("app", user="other")
o.execute("set work_mem = '9MB'")
assert o.execute("show work_mem").fetchone()[0] == "9MB"
print("ok - per-user pool_mode")

# max_user_connections=1 for "other": a second session waits for the first
o2 = conn("app", user="other")
done = []
t = threading.Thread(target=lambda: done.append(o2.execute("select 2").fetchone()[0]))
t.start(); time.sleep(0.5)
assert not done, "second session of a user limited to 1 server ran"
o.close()
t.join(5)
assert done == [2]
print("ok - max_user_connections holds a second server back")
o2.close()

# reserve pool: pool_size=1 busy, the waiter gets a reserve server after 0.3 s
a, b = conn("rsv"), conn("rsv")
ta = threading.Thread(target=lambda: a.execute("select pg_sleep(1.5)"))
ta.start(); time.sleep(0.1)
t0 = time.time()
assert b.execute("select 5").fetchone()[0] == 5
waited = time.time() - t0
ta.join()
assert 0.2 < waited < 1.3, waited
print(f"ok - reserve pool served a waiter after {waited:.2f} s")

# min_pool_size: the pool fills to 3 once used
m = conn("minp")
m.execute("select 1")
for _ in range(30):
    if backends() >= 3: break
    time.sleep(0.1)
assert backends() >= 3, backends()
print("ok - min_pool_size fills the pool")

# max_db_connections=2 across two users' pools of one database
conns = [conn("maxdb"), conn("maxdb"), conn("maxdb", user="other")]
ts = [threading.Thread(target=lambda k=k: k.execute("select pg_sleep(0.7)")) for k in conns]
for t in ts: t.start()
time.sleep(0.4)
n = admin.execute("select count(*) from pg_stat_activity where query = 'select pg_sleep(0.7)'").fetchone()[0]
for t in ts: t.join()
assert n == 2, n
print("ok - max_db_connections caps servers across pools")

# server_check_query with server_check_delay=0 runs before each reuse
before = admin.execute("select last_value from checks").fetchone()[0]
c = conn("app")
for i in range(5):
    c.execute("select 1")
after = admin.execute("select last_value from checks").fetchone()[0]
assert after - before >= 4, (before, after)
print("ok - server_check_query runs before a server is reused")
PY
