"""asyncpg through pgtide with its defaults: a statement cache of 100
named prepared statements, executemany, transactions, server_settings."""
import asyncio, sys
import asyncpg

port = int(sys.argv[1])


async def main():
    conns = [await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="app",
                                   server_settings={"app.current_tenant_id": f"t{i}"}) for i in range(6)]
    c = conns[0]
    await c.execute("drop table if exists drv_apg; create table drv_apg (id int, v text)")
    for k, conn in enumerate(conns):
        for i in range(30):
            row = await conn.fetchrow("select $1::int + $2::int as s, current_setting('app.current_tenant_id') as t", i, k)
            assert row["s"] == i + k and row["t"] == f"t{k}", (row, k)
    async with c.transaction():
        await c.executemany("insert into drv_apg values ($1, $2)", [(i, str(i)) for i in range(500)])
    assert await c.fetchval("select count(*) from drv_apg") == 500
    stmt = await c.prepare("select v from drv_apg where id = $1")
    for i in range(0, 500, 50):
        assert await stmt.fetchval(i) == str(i)
    try:
        await c.execute("select 1/0")
    except asyncpg.exceptions.DivisionByZeroError:
        pass
    assert await c.fetchval("select 42") == 42
    await asyncio.gather(*(conn.fetchval("select pg_sleep(0.05)") for conn in conns))
    await c.execute("drop table drv_apg")
    for conn in conns:
        await conn.close()
    print("asyncpg ok")

asyncio.run(main())
