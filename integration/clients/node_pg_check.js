// Drives node-postgres (the `pg` npm package) through the Sluice gateway and prints a JSON
// report on stdout.
//
// Usage: node node_pg_check.js "<postgres:// URL>"   (an agent_support token for acme)
//
// node-postgres sends a query without parameters over the simple protocol and one with
// parameters, a name (a prepared statement it parses once and reuses) or `queryMode: 'extended'`
// over the extended protocol. Denials are tried both ways. The report's keys are the ones
// integration/tests/pg_clients.rs checks for every client; `extra` holds what only this client
// does. An unexpected error ends the script non-zero, which fails the test.
'use strict';

const { Client, types } = require('pg');

const DENIALS = [
  'DELETE FROM customers',
  'DROP TABLE customers',
  "SELECT pg_read_file('/etc/passwd')",
  'SELEC 1',
];
const VEHICLES = 'SELECT count(*)::int AS n FROM vehicles';
const DATE_OID = 1082;

// Dates as the server's text (the default parser makes a local-time JS Date).
const keepDates = {
  getTypeParser: (oid, format) =>
    oid === DATE_OID && format === 'text' ? (v) => v : types.getTypeParser(oid, format),
};

async function scalar(client, query) {
  const res = await client.query({ ...query, rowMode: 'array' });
  return res.rows[0][0];
}

// The SQLSTATE a query fails with, or null when it succeeds.
async function sqlstateOf(query) {
  try {
    await query;
    return null;
  } catch (e) {
    if (!e.code) throw e; // not a server error
    return e.code;
  }
}

// Runs a statement that must be denied; returns its SQLSTATE and a query run after it.
async function denial(client, sql, via) {
  const sqlstate = await sqlstateOf(
    client.query(via === 'simple' ? sql : { text: sql, queryMode: 'extended' }),
  );
  return { sql, via, sqlstate, then: await scalar(client, { text: VEHICLES }) };
}

async function main(url) {
  const report = { client: `node-postgres ${require('pg/package.json').version}` };
  const client = new Client({ connectionString: url, types: keepDates });
  await client.connect();
  try {
    const tenants = await client.query('SELECT DISTINCT tenant_id FROM customers');
    report.tenants = tenants.rows.map((r) => r.tenant_id).sort();
    // count(*) is bigint, which node-postgres returns as text.
    report.customers = Number(await scalar(client, { text: 'SELECT count(*) FROM customers' }));

    // A named statement: parsed on the first run, then only bound and executed.
    report.by_id = [];
    for (const id of [1, 16, 3]) {
      const res = await client.query({
        name: 'reservation_by_id',
        text: 'SELECT id, price, starts_on, notes FROM reservations WHERE id = $1',
        values: [id],
      });
      const r = res.rows[0];
      report.by_id.push(r ? [r.id, r.price, r.starts_on, r.notes] : null);
    }

    const update = 'UPDATE reservations SET notes = $1 WHERE id = $2';
    report.update_own = (await client.query(update, ['checked by node-postgres', 1])).rowCount;
    report.update_other = (await client.query(update, ['checked by node-postgres', 16])).rowCount;
    report.note_after = await scalar(client, {
      text: 'SELECT notes FROM reservations WHERE id = $1',
      values: [1],
    });

    report.denials = [];
    for (const sql of DENIALS) {
      for (const via of ['simple', 'extended']) {
        report.denials.push(await denial(client, sql, via));
      }
    }

    // A parameter cannot reach the other tenant's rows.
    const globex = await scalar(client, {
      text: 'SELECT count(*)::int FROM customers WHERE tenant_id = $1',
      values: ['globex'],
    });

    // A denial inside a transaction aborts it, as a server error would.
    await client.query('BEGIN');
    await client.query("UPDATE reservations SET notes = 'in a transaction' WHERE id = $1", [3]);
    const deniedInTx = await sqlstateOf(
      client.query({ text: 'DELETE FROM customers', queryMode: 'extended' }),
    );
    const nextInTx = await sqlstateOf(client.query('SELECT 1'));
    await client.query('ROLLBACK');
    const note = await scalar(client, {
      text: 'SELECT notes FROM reservations WHERE id = $1',
      values: [3],
    });

    // node-postgres has a `binary: true` query option, but its protocol parser decodes every
    // field as UTF-8 text, so binary integers come back corrupted or crash its parsers
    // (brianc/node-postgres#3495): binary results are covered by psycopg and asyncpg instead.
    report.extra = {
      globex_customers: globex,
      denied_in_transaction: deniedInTx,
      next_statement_in_failed_transaction: nextInTx,
      note_after_rollback: note,
    };
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(report));
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
