#!/usr/bin/env python3
"""Write the seed corpora for the fuzz harnesses (tests/fuzz/corpus/NAME/).
Run again after changing it; the files it writes are committed."""
import os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(os.path.dirname(here))

def put(name, i, data):
    d = os.path.join(here, "corpus", name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"seed-{i:03d}"), "wb").write(data)

def startup(params, version=196608):
    body = struct.pack("!I", version) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params) + b"\0"
    return struct.pack("!I", len(body) + 4) + body

def msg(t, body=b""):
    return t.encode() + struct.pack("!I", len(body) + 4) + body

def cstr(s):
    return s.encode() + b"\0"

# startup packets
seeds = [
    startup([("user", "alice"), ("database", "app")]),
    startup([("user", "app"), ("database", "app"), ("options", "-c app.current_tenant_id=t1 -c work_mem=8MB"),
             ("application_name", "psql"), ("client_encoding", "UTF8")]),
    startup([("user", "u"), ("_pq_.x", "1")], version=196610),
    struct.pack("!II", 8, 80877103),                      # SSLRequest
    struct.pack("!II", 8, 80877104),                      # GSSENCRequest
    struct.pack("!IIII", 16, 80877102, 1234, 5678),       # CancelRequest
    startup([("user", "x")], version=131072),             # protocol 2
    struct.pack("!I", 3),                                 # bad length
]
for i, s in enumerate(seeds):
    put("startup", i, s)

# message streams: first byte 0 = from a client, 1 = from a server
P = lambda n, q: msg("P", cstr(n) + cstr(q) + struct.pack("!H", 0))
B = lambda p, s, vals=(): msg("B", cstr(p) + cstr(s) + struct.pack("!HH", 0, len(vals)) +
                              b"".join(struct.pack("!i", len(v)) + v for v in vals) + struct.pack("!H", 0))
E = lambda p, n=0: msg("E", cstr(p) + struct.pack("!I", n))
D = lambda k, n: msg("D", k.encode() + cstr(n))
C = lambda k, n: msg("C", k.encode() + cstr(n))
S = msg("S")
Q = lambda q: msg("Q", cstr(q))
client = [
    Q("SELECT 1"),
    Q("BEGIN; SET LOCAL work_mem = '1MB'; SELECT * FROM t FOR UPDATE; COMMIT"),
    P("", "SELECT $1::int") + B("", "", [b"42"]) + D("P", "") + E("") + S,
    P("s1", "SELECT pg_advisory_lock($1)") + B("p", "s1", [b"1"]) + E("p", 10) + C("P", "p") + C("S", "s1") + S,
    Q("CREATE TEMP TABLE x AS SELECT 1; DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
    Q("DO $$ BEGIN EXECUTE 'LISTEN ' || 'x'; PERFORM set_config('a.b', 'c', false); END $$"),
    msg("d", b"1\t2\n") + msg("c") + msg("f", cstr("oops")),
    msg("H") + msg("X"),
]
server = [
    msg("R", struct.pack("!I", 10) + cstr("SCRAM-SHA-256") + b"\0") + msg("R", struct.pack("!I", 0)),
    msg("S", cstr("server_version") + cstr("15.0")) + msg("K", struct.pack("!II", 77, 88)) + msg("Z", b"I"),
    msg("T", struct.pack("!H", 1) + cstr("a") + struct.pack("!IhIhih", 0, 0, 25, -1, -1, 0)) +
    msg("D", struct.pack("!H", 2) + struct.pack("!i", 8) + b"work_mem" + struct.pack("!i", 3) + b"8MB") +
    msg("C", cstr("SELECT 1")) + msg("Z", b"T"),
    msg("E", b"SERROR\0VERROR\0C57P01\0Mterminating connection due to administrator command\0\0"),
    msg("N", b"SNOTICE\0C00000\0Mhello\0\0") + msg("A", struct.pack("!I", 5) + cstr("jobs") + cstr("payload")),
    msg("D", struct.pack("!H", 2) + struct.pack("!i", -1) + struct.pack("!i", 1) + b"x"),
]
for i, s in enumerate(client):
    put("messages", i, b"\0" + s)
for i, s in enumerate(server):
    put("messages", 100 + i, b"\1" + s)

# SQL
sql = [
    "select 1", "SET app.current_tenant_id = 't1'", "SELECT set_config('app.current_tenant_id', 't', false)",
    "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY", "START TRANSACTION READ WRITE, NOT DEFERRABLE",
    "with d as (delete from t returning *) select * from d", "select * from t for no key update",
    "VACUUM (ANALYZE) t", "CREATE INDEX CONCURRENTLY i ON t (a)", "COMMIT AND NO CHAIN", "rollback to savepoint s",
    "create or replace temp view v as select 1", "select * into temporary table x from t",
    "DECLARE c BINARY NO SCROLL CURSOR WITH HOLD FOR SELECT 1", "listen \"Mixed Case\"", "unlisten *",
    "do language plpgsql $x$ begin if true then set work_mem = 1; end if; end $x$",
    "select E'\\x41\\u0042\\'', U&'d\\0061t\\+000061', $tag$ $$ $tag$, \"we\"\"ird\", B'101', X'ff'",
    "/* a /* nested */ comment */ select -- trailing\n 1", "prepare p(int) as select $1; execute p(1); deallocate all",
    "select 'it''s'", "discard all", "reset all", "load 'auto_explain'", "select pg_try_advisory_lock_shared(1, 2)",
    "it's'); DROP TABLE t; --", "back\\slash", "",
]
for i, s in enumerate(sql):
    put("sql", i, s.encode())

# SCRAM: first byte picks the exchange (0 server side, 1 client side, 2 secret, 3 base64, 4 SASLprep)
scram = [
    b"\0n,,n=,r=rOprNGfwEbeRWgbNEkqO\nc=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    b"\0p=tls-server-end-point,,n=,r=abc\nc=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=abcdef,p=AAAA",
    b"\1r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\nv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    b"\1r=x,s=,i=0\ne=invalid-proof",
    b"\2SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    b"\3cGVuY2ls", b"\3====", b"\4\xe2\x85\xa8pencil\xc2\xad",
]
for i, s in enumerate(scram):
    put("scram", i, s)

# files: first byte 0 auth_file, 1 hba, 2 ini, 3 admin command
files = [
    b"\0\"alice\" \"md5ad4bd5a2f2e2d5e4c9d2d5b1c3c7e9a1\"\n\"bob\" \"SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5\"\n; comment\n\"x\"\"y\" \"plain\"\n\"broken",
    b"\1local all all trust\nhost app alice 10.0.0.0/8 scram-sha-256\nhostssl all +admins ::1/128 cert\nhost \"app\",all sameuser 1.2.3.4 255.255.255.0 md5\nhost all all all reject\n",
    b"\2" + open(os.path.join(top, "etc", "pgtide.ini"), "rb").read(),
    b"\2[databases]\napp = host=127.0.0.1 port=5432 dbname=x pool_size=3 replicas=10.0.0.1:5432,h:6432 max_bound_servers=2\n* = host=x\n[users]\nu = tenant=t1 pool_mode=session\n[pgtide]\nlisten_port = 6432\nquery_timeout = 1.5\nreplica_max_lag = 16MB\n",
    b"\3SHOW POOLS;", b"\3SET default_pool_size = '20'", b"\3kill \"My DB\"", b"\3KILL_CLIENT 0x1f", b"\3set x to y",
]
for i, s in enumerate(files):
    put("files", i, s)
print("seeds written")
