// Reads with node mysql2, as its documentation shows, and prints each result's rows and column
// metadata as JSON: run through the gateway and on a direct connection to the same MariaDB,
// integration/tests/my_orm_writes.rs compares the two.
//
// Usage: node mysql2_json_check.js "<mysql:// URL>" '<[[name, sql, [params]], ...]>'
//
// Each statement runs twice, with `query` (text protocol) and `execute` (prepared statement).
// mysql2 returns a JSON column as a parsed object only when the column definition carries
// MariaDB's extended metadata `format=json` (MARIADB_CLIENT_EXTENDED_METADATA, asked for when the
// server offers it), and reports UUID/INET6 columns' type names from the same block. A value is
// reported with its JavaScript type, so a string holding JSON and an object differ.
'use strict';

const mysql = require('mysql2/promise');

function options(url) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    enableCleartextPlugin: true,
  };
}

const typed = (v) => ({ type: v === null ? 'null' : typeof v, value: v });

async function main(url, statements) {
  const conn = await mysql.createConnection(options(url));
  const report = {
    client: `mysql2 ${require('mysql2/package.json').version}`,
    extended_metadata: conn.connection._mariadbExtendedMetadata,
    results: {},
  };
  try {
    for (const [name, sql, params] of statements) {
      for (const via of ['query', 'execute']) {
        const [rows, fields] = await conn[via](sql, params);
        report.results[`${name} (${via})`] = {
          rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typed(v)]))),
          fields: fields.map((f) => ({
            name: f.name,
            orgTable: f.orgTable,
            orgName: f.orgName,
            columnType: f.columnType,
            typeName: f.extendedTypeName ?? null,
            format: f.extendedFormat ?? null,
          })),
        };
      }
    }
  } finally {
    await conn.end();
  }
  console.log(JSON.stringify(report));
}

main(process.argv[2], JSON.parse(process.argv[3])).catch((e) => {
  console.error(e);
  process.exit(1);
});
