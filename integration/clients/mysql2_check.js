// Drives node mysql2 through the Sluice gateway's MySQL door and prints a JSON report on stdout.
//
// Usage: node mysql2_check.js "<mysql:// URL>" [tls]   (an agent_support token for acme)
//
// mysql2's `query` sends text (COM_QUERY, parameters interpolated by the client); its `execute`
// uses server-side prepared statements (COM_STMT_PREPARE once per SQL text, then
// COM_STMT_EXECUTE with binary parameters and binary result rows). The common reads and writes
// go through `execute` with parameters; reads are repeated with `query`, and every denial is
// tried both ways. With `tls` the connection uses TLS without verifying the gateway's
// self-signed certificate. The report's keys are the ones integration/tests/my_clients.rs checks
// for every client; `extra` holds what only this client does. An unexpected error ends the
// script non-zero, which fails the test.
'use strict';

const mysql = require('mysql2/promise');

const DENIALS = [
  'DELETE FROM customers',
  'DROP TABLE customers',
  'UPDATE reservations SET price = 0 WHERE id = 1',
  'SELECT ssn FROM customers',
  'SELEC 1',
  "SELECT LOAD_FILE('/etc/passwd')",
];
const BY_ID = 'SELECT id, price, starts_on, notes FROM reservations WHERE id = ?';
const NOTE = 'checked by mysql2';
const INSERTED = 'inserted by mysql2';

// A value as the text a report compares (dates come as strings: `dateStrings`).
const text = (v) => (v === null ? null : String(v));
const rowText = (row) => (row === undefined ? null : row.map(text));

// The connection options the URL stands for, plus what mysql2 needs for the door.
function options(url, tls) {
  const u = new URL(url);
  const opts = {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    dateStrings: true,
    rowsAsArray: true,
  };
  if (tls) {
    opts.ssl = { rejectUnauthorized: false };
  } else {
    // On a plain connection the door asks for mysql_clear_password, which mysql2 refuses
    // unless enabled.
    opts.enableCleartextPlugin = true;
  }
  return opts;
}

// `via` is 'query' (text protocol) or 'execute' (prepared statement).
async function run(conn, via, sql, params) {
  const [result, fields] = await conn[via](sql, params);
  return { result, fields };
}

// Runs a statement that must fail; returns the error and a `SELECT 1` run the same way after it.
async function denial(conn, sql, via) {
  let code = null;
  let sqlstate = null;
  let message = null;
  try {
    await run(conn, via, sql);
  } catch (e) {
    if (e.errno === undefined || e.fatal) throw e; // not a server error for this statement
    code = e.errno;
    sqlstate = e.sqlState;
    message = e.sqlMessage;
  }
  const then = (await run(conn, via, 'SELECT 1')).result[0][0];
  return { sql, via, code, sqlstate, message, then: Number(then) };
}

async function star(conn, via, table) {
  const { result, fields } = await run(conn, via, `SELECT * FROM ${table} WHERE id = 1`);
  return { columns: fields.map((f) => f.name), rows: result.map(rowText) };
}

async function byId(conn, via) {
  const rows = [];
  for (const id of [1, 16, 3]) {
    rows.push(rowText((await run(conn, via, BY_ID, [id])).result[0]));
  }
  return rows;
}

async function main(url, tls) {
  const report = { client: `mysql2 ${require('mysql2/package.json').version}` };
  const conn = await mysql.createConnection(options(url, tls));
  try {
    const tenants = (await run(conn, 'execute', 'SELECT DISTINCT tenant_id FROM customers')).result;
    report.tenants = tenants.map((r) => r[0]).sort();
    report.customers = (
      await run(conn, 'execute', 'SELECT id, name FROM customers ORDER BY id')
    ).result.map(rowText);
    report.star_customers = await star(conn, 'execute', 'customers');
    report.star_reservations = await star(conn, 'execute', 'reservations');
    report.by_id = await byId(conn, 'execute');

    const update = 'UPDATE reservations SET notes = ? WHERE id = ?';
    report.update_own = (await run(conn, 'execute', update, [NOTE, 1])).result.affectedRows;
    report.update_other = (await run(conn, 'execute', update, [NOTE, 16])).result.affectedRows;
    const updateSame = (await run(conn, 'execute', update, [NOTE, 1])).result.affectedRows;
    report.note_after = (
      await run(conn, 'execute', 'SELECT notes FROM reservations WHERE id = ?', [1])
    ).result[0][0];

    const inserted = (
      await run(
        conn,
        'execute',
        'INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price)' +
          ' VALUES (?, ?, ?, ?, ?, ?)',
        [2, 3, 'booked', INSERTED, '2025-08-01', '120.00'],
      )
    ).result;
    const rows = (
      await run(
        conn,
        'execute',
        'SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price' +
          ' FROM reservations WHERE notes = ?',
        [INSERTED],
      )
    ).result;
    report.insert = { affected: inserted.affectedRows, rows: rows.map(rowText) };

    report.denials = [];
    for (const sql of DENIALS) {
      for (const via of ['query', 'execute']) {
        report.denials.push(await denial(conn, sql, via));
      }
    }

    // The same reads over the text protocol (parameters interpolated by mysql2).
    const textReads = {
      tenants: (await run(conn, 'query', 'SELECT DISTINCT tenant_id FROM customers')).result.map(
        (r) => r[0],
      ),
      star_customers: await star(conn, 'query', 'customers'),
      by_id: await byId(conn, 'query'),
    };

    report.extra = {
      insert_id: inserted.insertId,
      update_same: updateSame,
      text_reads: textReads,
      tls: tls ? conn.connection.stream.getProtocol() : null,
    };
  } finally {
    await conn.end();
  }
  console.log(JSON.stringify(report));
}

main(process.argv[2], process.argv[3] === 'tls').catch((e) => {
  console.error(e);
  process.exit(1);
});
