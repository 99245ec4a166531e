-- Drives psql through the Sluice gateway (simple query protocol).
--
-- Run as: psql "<dsn>" -X -v ON_ERROR_STOP=0 -f psql_check.sql   (an agent_support token for acme)
--
-- Every step starts with a marker line `#<step>` written to stdout (\echo) and to stderr (\warn),
-- so integration/tests/pg_clients.rs can cut both streams into steps: results land on stdout,
-- errors (`ERROR:  <SQLSTATE>` with VERBOSITY sqlstate) on stderr. After each denial the step
-- runs another query, which must still answer.
\set VERBOSITY sqlstate
\pset format unaligned
\pset tuples_only on

\echo '#tenants'
\warn '#tenants'
SELECT DISTINCT tenant_id FROM customers;

\echo '#customers'
\warn '#customers'
SELECT count(*) FROM customers;

\echo '#by_id 1'
\warn '#by_id 1'
SELECT id, price, starts_on, notes FROM reservations WHERE id = 1;
\echo '#by_id 16'
\warn '#by_id 16'
SELECT id, price, starts_on, notes FROM reservations WHERE id = 16;
\echo '#by_id 3'
\warn '#by_id 3'
SELECT id, price, starts_on, notes FROM reservations WHERE id = 3;

\echo '#update_own'
\warn '#update_own'
UPDATE reservations SET notes = 'checked by psql' WHERE id = 1;
\echo '#update_other'
\warn '#update_other'
UPDATE reservations SET notes = 'checked by psql' WHERE id = 16;
\echo '#note_after'
\warn '#note_after'
SELECT notes FROM reservations WHERE id = 1;

\echo '#deny DELETE FROM customers'
\warn '#deny DELETE FROM customers'
DELETE FROM customers;
SELECT count(*) FROM vehicles;

\echo '#deny DROP TABLE customers'
\warn '#deny DROP TABLE customers'
DROP TABLE customers;
SELECT count(*) FROM vehicles;

\echo '#deny SELECT pg_read_file(''/etc/passwd'')'
\warn '#deny SELECT pg_read_file(''/etc/passwd'')'
SELECT pg_read_file('/etc/passwd');
SELECT count(*) FROM vehicles;

\echo '#deny SELEC 1'
\warn '#deny SELEC 1'
SELEC 1;
SELECT count(*) FROM vehicles;

-- psql's describe commands query pg_catalog; the gateway may refuse them, but cleanly.
\echo '#describe'
\warn '#describe'
\d
\d customers
\echo '#after_describe'
\warn '#after_describe'
SELECT count(*) FROM vehicles;
