// Drives knex's schema inspection through the Sluice gateway and prints a JSON report on stdout.
//
// Usage: node knex_catalog_check.js pg "<postgres:// URL>"
//        node knex_catalog_check.js mysql2 "<mysql:// URL>"     (an agent token for tenant-a)
//
// knex answers `schema.hasTable`, `schema.hasColumn` and `columnInfo` from information_schema
// (`tables` and `columns`), which the gateway serves confined to the token's scope; see
// integration/tests/catalog_jvm_node_cli_clients.rs for what the report must hold. An unexpected
// error ends the script non-zero, which fails the test.
'use strict';

const knex = require('knex');

function connection(client, url) {
  const u = new URL(url);
  const conn = {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
  };
  if (client === 'mysql2') {
    // On a plain connection the door asks for mysql_clear_password, which mysql2 refuses
    // unless enabled.
    conn.enableCleartextPlugin = true;
  }
  return conn;
}

// columnInfo's answer as [name, type, nullable, default] by name (knex keys the object by
// column name, in whatever order information_schema returned them).
function columns(info) {
  return Object.entries(info)
    .map(([name, c]) => [name, c.type, c.nullable, c.defaultValue])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

async function main() {
  const [client, url] = process.argv.slice(2);
  const db = knex({ client, connection: connection(client, url), pool: { min: 0, max: 1 } });
  try {
    const report = {
      has_customers: await db.schema.hasTable('customers'),
      has_orders: await db.schema.hasTable('orders'),
      has_vault: await db.schema.hasTable('vault_canary'),
      has_email: await db.schema.hasColumn('customers', 'email'),
      has_ssn: await db.schema.hasColumn('customers', 'ssn_canary'),
      customers: columns(await db('customers').columnInfo()),
      orders: columns(await db('orders').columnInfo()),
      vault: columns(await db('vault_canary').columnInfo()),
      names: (await db('customers').select('name').orderBy('id')).map((r) => r.name),
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    await db.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
