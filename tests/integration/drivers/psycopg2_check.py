"""psycopg2 through pgtide with default settings: implicit transactions,
commit/rollback, errors, server-side cursor."""
import sys
import psycopg2

port = int(sys.argv[1])
c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="app")
cur = c.cursor()
cur.execute("drop table if exists drv_p2")
cur.execute("create table drv_p2 (id int)")
c.commit()
for i in range(100):
    cur.execute("insert into drv_p2 values (%s)", (i,))
c.commit()
cur.execute("insert into drv_p2 values (-1)")
c.rollback()
cur.execute("select count(*), sum(id) from drv_p2")
assert cur.fetchone() == (100, 4950)
try:
    cur.execute("select * from no_such_table")
except psycopg2.errors.UndefinedTable:
    c.rollback()
named = c.cursor(name="srv_cursor")  # DECLARE ... inside the transaction
named.execute("select id from drv_p2 order by id")
assert len(named.fetchmany(10)) == 10 and len(named.fetchall()) == 90
named.close()
c.commit()
cur.execute("drop table drv_p2")
c.commit()
print("psycopg2 ok")
