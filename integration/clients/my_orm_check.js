// Inserts with bound values through node mysql2 and Sequelize (mysql dialect, on mysql2) and
// prints a JSON report.
//
// Usage: node my_orm_check.js mysql2|sequelize "<mysql:// URL>"   (an agent_support token for acme)
//
// Each driver as its documentation shows: mysql2's `connection.execute(sql, values)` (a
// server-side prepared statement: COM_STMT_PREPARE, then COM_STMT_EXECUTE with every value
// bound, `tenant_id` too); Sequelize's `new Sequelize(database, user, password, { dialect:
// 'mysql' })`, a model, `Model.create({...})` (Sequelize binds the values and runs the INSERT
// through mysql2's `execute`), `findAll`, `update`. The acme row must be written; every write
// with another tenant's value refused (`write_not_confinable`, 1142) with nothing written. The
// report names the driver's version. integration/tests/my_orm_writes.rs checks the report's exact
// values and the table through a direct connection. An unexpected error ends the script non-zero.
'use strict';

const INSERT =
  'INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?)';

function values(tenant, notes) {
  return [tenant, 2, 3, 'booked', notes, '2026-05-01', '150.25'];
}

function refused(e) {
  // Sequelize wraps the driver's error; mysql2's own carries errno, sqlState and sqlMessage.
  const d = e.original ?? e.parent ?? e;
  return { code: d.errno ?? null, sqlstate: d.sqlState ?? null, message: d.sqlMessage ?? d.message };
}

function connectionOptions(url) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    // On a plain loopback connection the door asks for mysql_clear_password, which mysql2
    // sends only when enabled (README, "The MySQL door").
    enableCleartextPlugin: true,
  };
}

// Tries a write that must be refused; 'written' if it was not.
async function refusedWrite(write) {
  try {
    await write();
    return 'written';
  } catch (e) {
    if (e.fatal) throw e;
    return refused(e);
  }
}

async function withMysql2(url) {
  const mysql = require('mysql2/promise');
  const report = { client: `mysql2 ${require('mysql2/package.json').version}` };
  const conn = await mysql.createConnection(connectionOptions(url));
  try {
    const [ok] = await conn.execute(INSERT, values('acme', 'orm-mysql2'));
    report.inserted = { affected: ok.affectedRows, id: ok.insertId };
    // The same prepared statement with another tenant's value.
    report.globex = await refusedWrite(() => conn.execute(INSERT, values('globex', 'orm-mysql2-globex')));
    // Several rows in one statement, one of them another tenant's.
    report.mixed_rows = await refusedWrite(() =>
      conn.execute(
        INSERT.replace(/\)$/, '), (?, ?, ?, ?, ?, ?, ?)'),
        [...values('acme', 'orm-mysql2-mixed'), ...values('globex', 'orm-mysql2-mixed')],
      ),
    );
    // An upsert that would move a row (the ORMs' "upsert") with the tenant bound.
    report.upsert = await refusedWrite(() =>
      conn.execute(`${INSERT} ON DUPLICATE KEY UPDATE tenant_id = VALUES(tenant_id)`, values('globex', 'orm-mysql2-upsert')),
    );
    // The tenant bound in the SELECT list of an INSERT ... SELECT.
    report.insert_select = await refusedWrite(() =>
      conn.execute(
        INSERT.replace(/VALUES \(.*\)$/, 'SELECT ?, ?, ?, ?, ?, ?, ? FROM vehicles WHERE id = 1'),
        values('globex', 'orm-mysql2-select'),
      ),
    );
    // REPLACE, MySQL's delete-then-insert.
    report.replace = await refusedWrite(() =>
      conn.execute(INSERT.replace(/^INSERT/, 'REPLACE'), values('globex', 'orm-mysql2-replace')),
    );
    const [rows] = await conn.execute(
      'SELECT id, tenant_id, notes FROM reservations WHERE notes LIKE ? ORDER BY id',
      ['orm-mysql2%'],
    );
    report.read_back = rows.map((r) => [r.id, r.tenant_id, r.notes]);
    const [[after]] = await conn.execute('SELECT count(*) AS n FROM reservations');
    report.after = Number(after.n);
  } finally {
    await conn.end();
  }
  return report;
}

async function withSequelize(url) {
  const { Sequelize, DataTypes } = require('sequelize');
  const o = connectionOptions(url);
  const statements = [];
  const sequelize = new Sequelize(o.database, o.user, o.password, {
    host: o.host,
    port: o.port,
    dialect: 'mysql',
    dialectOptions: { enableCleartextPlugin: true },
    logging: (sql) => statements.push(sql),
  });
  const report = { client: `sequelize ${require('sequelize/package.json').version}` };
  const Reservation = sequelize.define(
    'Reservation',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      tenant_id: { type: DataTypes.STRING(32), allowNull: false },
      customer_id: { type: DataTypes.INTEGER, allowNull: false },
      vehicle_id: { type: DataTypes.INTEGER, allowNull: false },
      status: { type: DataTypes.STRING(20), allowNull: false },
      notes: DataTypes.STRING(500),
      starts_on: { type: DataTypes.DATEONLY, allowNull: false },
      price: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
    },
    { tableName: 'reservations', timestamps: false },
  );
  const row = (tenant, notes) => {
    const [tenant_id, customer_id, vehicle_id, status, n, starts_on, price] = values(tenant, notes);
    return { tenant_id, customer_id, vehicle_id, status, notes: n, starts_on, price };
  };
  try {
    await sequelize.authenticate();
    const created = await Reservation.create(row('acme', 'orm-sequelize'));
    report.id = created.id;
    report.globex = await refusedWrite(() => Reservation.create(row('globex', 'orm-sequelize-globex')));
    report.bulk_mixed = await refusedWrite(() =>
      Reservation.bulkCreate([row('acme', 'orm-sequelize-bulk'), row('globex', 'orm-sequelize-bulk')]),
    );
    const [updated] = await Reservation.update({ status: 'active' }, { where: { id: created.id } });
    report.updated = updated;
    report.update_tenant = await refusedWrite(() =>
      Reservation.update({ tenant_id: 'globex' }, { where: { id: created.id } }),
    );
    const found = await Reservation.findAll({ where: { notes: 'orm-sequelize' }, order: [['id', 'ASC']] });
    report.found = found.map((r) => [r.id, r.tenant_id, r.status, r.notes, r.starts_on, r.price]);
    report.count = await Reservation.count();
  } finally {
    await sequelize.close();
    report.statements = statements;
  }
  return report;
}

async function main() {
  const [driver, url] = process.argv.slice(2);
  const report = driver === 'sequelize' ? await withSequelize(url) : await withMysql2(url);
  console.log(JSON.stringify(report, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
