"""psycopg 3 through pgtide with its default settings: prepared statements
after 5 executions, pipelines, COPY, cancel, transactions, errors, the
tenant from options. Exit 0 only if every answer is Postgres's."""
import sys, threading, time
import psycopg

port = int(sys.argv[1])
ci = f"host=127.0.0.1 port={port} user=postgres dbname=app"

with psycopg.connect(ci, options="-c app.current_tenant_id=acme") as c:
    c.autocommit = True
    # default prepare_threshold=5: from the 6th run on, a named statement
    for i in range(30):
        assert c.execute("select %s::int * 2, current_setting('app.current_tenant_id')", (i,)).fetchone() == (i * 2, "acme")
    # executemany, in a transaction
    c.execute("drop table if exists drv_p3")
    c.execute("create table drv_p3 (id int primary key, v text)")
    with c.transaction():
        with c.cursor() as cur:
            cur.executemany("insert into drv_p3 values (%s, %s)", [(i, f"v{i}") for i in range(200)])
    assert c.execute("select count(*) from drv_p3").fetchone()[0] == 200
    # pipeline mode
    with c.pipeline():
        curs = [c.execute("select %s::int + 1", (i,)) for i in range(50)]
    assert [cur.fetchone()[0] for cur in curs] == list(range(1, 51))
    # COPY both ways
    with c.cursor() as cur:
        with cur.copy("copy drv_p3 (id, v) from stdin") as cp:
            for i in range(200, 1200):
                cp.write_row((i, f"w{i}"))
        out = bytearray()
        with cur.copy("copy (select id from drv_p3 order by id) to stdout") as cp:
            for data in cp:
                out += data
        assert len(out.split(b"\n")) == 1201
    # errors keep the connection usable; a failed transaction rolls back
    try:
        c.execute("select 1/0")
    except psycopg.errors.DivisionByZero:
        pass
    try:
        with c.transaction():
            c.execute("insert into drv_p3 values (-1, 'x')")
            c.execute("insert into drv_p3 values (-1, 'dup')")
    except psycopg.errors.UniqueViolation:
        pass
    assert c.execute("select count(*) from drv_p3 where id = -1").fetchone()[0] == 0
    # cancel a running query
    def cancel():
        time.sleep(0.5)
        c.cancel()
    t = threading.Thread(target=cancel)
    t.start()
    try:
        c.execute("select pg_sleep(10)")
        raise SystemExit("cancel did not interrupt the query")
    except psycopg.errors.QueryCanceled:
        pass
    t.join()
    assert c.execute("select 1").fetchone()[0] == 1
    c.execute("drop table drv_p3")
print("psycopg3 ok")
