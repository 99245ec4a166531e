// Inserts with bound values through node-postgres and knex (pg client) and prints a JSON report.
//
// Usage: node node_pg_orm_check.js pg|knex "<postgres:// URL>"   (an agent_support token for acme)
//
// Each driver as its documentation shows: node-postgres `client.query(text, values)` with
// `INSERT ... VALUES ($1, ...) RETURNING id` (an extended-protocol statement, `tenant_id` bound),
// knex's `insert({...}).returning('id')` (knex binds every value). The acme row must be written;
// the globex one refused (`write_not_confinable`, 42501). integration/tests/orm_writes.rs checks
// the report's exact values and the table through a direct connection. An unexpected error ends
// the script non-zero.
'use strict';

const INSERT =
  'INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) ' +
  'VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id';

function values(tenant, notes) {
  return [tenant, 2, 3, 'booked', notes, '2026-05-01', '150.25'];
}

function refused(e) {
  return { sqlstate: e.code ?? null, message: e.message };
}

async function withPg(url) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url });
  await client.connect();
  const report = { versions: { pg: require('pg/package.json').version } };
  const ok = await client.query(INSERT, values('acme', 'orm-pg'));
  report.id = ok.rows[0].id;
  report.inserted_count = ok.rowCount;
  try {
    await client.query(INSERT, values('globex', 'orm-pg-globex'));
    report.globex = 'written';
  } catch (e) {
    report.globex = refused(e);
  }
  const after = await client.query('SELECT count(*)::int AS n FROM reservations');
  report.after = after.rows[0].n;
  await client.end();
  return report;
}

async function withKnex(url) {
  const knex = require('knex')({ client: 'pg', connection: url });
  const report = {
    versions: { knex: require('knex/package.json').version, pg: require('pg/package.json').version },
  };
  const row = (tenant, notes) => {
    const [tenant_id, customer_id, vehicle_id, status, n, starts_on, price] = values(tenant, notes);
    return { tenant_id, customer_id, vehicle_id, status, notes: n, starts_on, price };
  };
  const ok = await knex('reservations').insert(row('acme', 'orm-knex')).returning('id');
  report.id = ok[0].id;
  try {
    await knex('reservations').insert(row('globex', 'orm-knex-globex')).returning('id');
    report.globex = 'written';
  } catch (e) {
    report.globex = refused(e);
  }
  const after = await knex('reservations').count({ n: '*' });
  report.after = Number(after[0].n);
  await knex.destroy();
  return report;
}

async function main() {
  const [driver, url] = process.argv.slice(2);
  const report = driver === 'knex' ? await withKnex(url) : await withPg(url);
  console.log(JSON.stringify(report, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
