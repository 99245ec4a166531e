// Drives @supabase/postgrest-js (Supabase's PostgREST client, the one supabase-js wraps) against
// the gateway's REST door and prints a JSON report on stdout.
//
// Usage: node postgrest_js_check.js "<http://host:port/rest/v1>" "<token>"   (agent_support, acme)
//
// As the library's documentation shows: `new PostgrestClient(url, { headers })` with the token as
// the bearer, `.from(table).select(...)` with filters, then `.single()` (Accept:
// application/vnd.pgrst.object+json: one object, or error PGRST116 with 406 when the result has
// not exactly one row) and `.csv()` (Accept: text/csv: the rows as CSV text); `.insert(row)`
// with `.select(...)` (Prefer: return=representation) for acme's row, and an insert of
// another tenant's row, which must be refused (403, 42501, write_not_confinable). Every outcome
// is recorded as postgrest-js returns it ({ data, error, status }); integration/tests/
// rest_clients.rs compares it with the rows a direct SQL query gives. An unexpected exception
// ends the script non-zero.
'use strict';

const { PostgrestClient } = require('@supabase/postgrest-js');

// What postgrest-js returned: data, the error's code/message/details, the HTTP status.
function outcome({ data, error, status }) {
  return {
    status,
    data,
    error: error && { code: error.code, message: error.message, details: error.details },
  };
}

async function main(url, token) {
  const client = new PostgrestClient(url, { headers: { Authorization: `Bearer ${token}` } });
  const reservations = () => client.from('reservations');
  const report = { client: `@supabase/postgrest-js ${require('@supabase/postgrest-js/package.json').version}` };

  report.single = outcome(
    await reservations().select('id,tenant_id,status,notes,starts_on,price').eq('id', 1).single(),
  );
  // globex's reservation 16: no row for this token, so not exactly one.
  report.single_other_tenant = outcome(await reservations().select('id').eq('id', 16).single());
  report.single_several = outcome(await reservations().select('id').eq('status', 'booked').single());
  report.maybe_single_none = outcome(await reservations().select('id').eq('id', 16).maybeSingle());
  report.csv = outcome(
    await reservations().select('id,status,notes').eq('status', 'active').order('id').csv(),
  );
  report.csv_customers = outcome(await client.from('customers').select('id,name').lte('id', 3).order('id').csv());

  const row = (tenant, notes) => ({
    tenant_id: tenant,
    customer_id: 2,
    vehicle_id: 3,
    status: 'booked',
    notes,
    starts_on: '2026-05-01',
    price: 150.25,
  });
  report.insert = outcome(
    await reservations().insert(row('acme', 'via postgrest-js')).select('tenant_id,notes,price'),
  );
  report.insert_other_tenant = outcome(await reservations().insert(row('globex', 'via postgrest-js globex')));
  report.insert_mixed = outcome(
    await reservations().insert([row('acme', 'via postgrest-js mixed'), row('globex', 'via postgrest-js mixed')]),
  );
  report.after_insert = outcome(
    await reservations().select('tenant_id,notes').like('notes', 'via postgrest-js%').order('id'),
  );
  console.log(JSON.stringify(report));
}

main(process.argv[2], process.argv[3]).catch((e) => {
  console.error(e);
  process.exit(1);
});
