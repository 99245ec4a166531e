// Writes through drizzle-orm with its node-postgres driver and prints a JSON report.
//
// Usage: node drizzle_orm_check.js "<postgres:// URL>"   (an agent_support token for acme)
//
// As drizzle's PostgreSQL guide shows: the table declared with `pgTable`, `drizzle(url)`,
// `db.insert(t).values({...}).returning()`, `db.select().from(t).where(eq(...))`,
// `db.update(t).set({...}).where(...)`. Drizzle lists every column of the table in its INSERT
// and writes `default` for each one given no value: the identity `id` always, `tenant_id` and
// `notes` when left out. The acme rows must be written (the one without a tenant gets the
// token's); the globex one refused (`write_not_confinable`, 42501), and so must a multi-row insert
// that mixes acme and globex, writing neither. integration/tests/orm_writes.rs checks the report's
// exact values and the table through a direct connection. An unexpected error ends the script
// non-zero.
'use strict';

const fs = require('fs');
const path = require('path');
const { drizzle } = require('drizzle-orm/node-postgres');
const { pgTable, integer, varchar, date, numeric } = require('drizzle-orm/pg-core');
const { eq, like, count } = require('drizzle-orm');

// The columns the agent_support role may see (`internal_score` is hidden).
const reservations = pgTable('reservations', {
  id: integer().primaryKey().generatedByDefaultAsIdentity(),
  tenantId: varchar('tenant_id', { length: 32 }).notNull(),
  customerId: integer('customer_id').notNull(),
  vehicleId: integer('vehicle_id').notNull(),
  status: varchar({ length: 20 }).notNull(),
  notes: varchar({ length: 500 }),
  startsOn: date('starts_on').notNull(),
  price: numeric({ precision: 10, scale: 2 }).notNull(),
});

function version(pkg) {
  // drizzle-orm's package exports do not include its package.json.
  const file = path.join(__dirname, 'node_modules', pkg, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function reservation(tenant, notes) {
  const r = { customerId: 2, vehicleId: 3, status: 'booked', startsOn: '2026-05-01', price: '150.25' };
  if (tenant !== undefined) r.tenantId = tenant;
  if (notes !== undefined) r.notes = notes;
  return r;
}

function rowJson(r) {
  return [r.id, r.tenantId, r.customerId, r.vehicleId, r.status, r.notes, r.startsOn, r.price];
}

// drizzle wraps the driver's error (DrizzleQueryError); the SQLSTATE is node-postgres'.
function refused(e) {
  const cause = e.cause ?? e;
  return { sqlstate: cause.code ?? null, message: cause.message };
}

async function attempt(write) {
  try {
    await write();
    return 'written';
  } catch (e) {
    return refused(e);
  }
}

async function main() {
  const [url] = process.argv.slice(2);
  const db = drizzle(url);
  const report = { versions: { 'drizzle-orm': version('drizzle-orm'), pg: version('pg') } };

  const [inserted] = await db.insert(reservations).values(reservation('acme', 'orm-drizzle')).returning();
  report.id = inserted.id;
  report.inserted = rowJson(inserted);

  // No tenant and no notes: drizzle writes `default` for both.
  const [defaulted] = await db.insert(reservations).values(reservation(undefined, undefined)).returning();
  report.defaulted = rowJson(defaulted);

  const [got] = await db.select().from(reservations).where(eq(reservations.id, inserted.id));
  report.selected = rowJson(got);

  const [updated] = await db
    .update(reservations)
    .set({ notes: 'orm-drizzle-updated', status: 'active' })
    .where(eq(reservations.id, inserted.id))
    .returning();
  report.updated = rowJson(updated);

  report.globex = await attempt(() =>
    db.insert(reservations).values(reservation('globex', 'orm-drizzle-globex')).returning());
  report.mixed = await attempt(() =>
    db
      .insert(reservations)
      .values([reservation('acme', 'orm-drizzle-mixed'), reservation('globex', 'orm-drizzle-mixed')])
      .returning());

  report.mine = (
    await db.select({ n: count() }).from(reservations).where(like(reservations.notes, 'orm-%'))
  )[0].n;
  report.after = (await db.select({ n: count() }).from(reservations))[0].n;
  await db.$client.end();
  console.log(JSON.stringify(report, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
