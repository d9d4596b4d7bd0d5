// node-postgres and postgres.js through pgtide with their defaults
// (postgres.js prepares every query; node-postgres prepares named queries).
const port = Number(process.argv[2]);
const { Client } = require('pg');
const postgres = require('postgres');

async function checkPg() {
  const c = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'app',
                         options: '-c app.current_tenant_id=acme' });
  await c.connect();
  for (let i = 0; i < 20; i++) {
    const r = await c.query({ name: 'double', text: 'select $1::int * 2 as d, current_setting(\'app.current_tenant_id\') as t', values: [i] });
    if (r.rows[0].d !== i * 2 || r.rows[0].t !== 'acme') throw new Error('pg wrong answer ' + i);
  }
  await c.query('begin');
  await c.query('select 1');
  await c.query('rollback');
  try { await c.query('select 1/0'); throw new Error('no error'); } catch (e) { if (e.code !== '22012') throw e; }
  const r = await c.query('select 42 as x');
  if (r.rows[0].x !== 42) throw new Error('pg after error');
  await c.end();
  console.log('node-postgres ok');
}

async function checkPostgresJs() {
  const sql = postgres({ host: '127.0.0.1', port, username: 'postgres', database: 'app', max: 4,
                         connection: { 'app.current_tenant_id': 'globex' } });
  for (let i = 0; i < 20; i++) {
    const rows = await sql`select ${i}::int * 3 as t, current_setting('app.current_tenant_id') as who`;
    if (rows[0].t !== i * 3 || rows[0].who !== 'globex') throw new Error('postgres.js wrong answer ' + i);
  }
  await sql.begin(async tx => {
    await tx`select 1`;
    await tx`select 2`;
  });
  const many = await Promise.all([...Array(20).keys()].map(i => sql`select ${i}::int as v`));
  many.forEach((rows, i) => { if (rows[0].v !== i) throw new Error('postgres.js concurrent ' + i); });
  try { await sql`select 1/0`; throw new Error('no error'); } catch (e) { if (e.code !== '22012') throw e; }
  await sql.end();
  console.log('postgres.js ok');
}

(async () => { await checkPg(); await checkPostgresJs(); })().catch(e => { console.error(e); process.exit(1); });
