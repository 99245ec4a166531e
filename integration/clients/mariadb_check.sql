-- Drives the mariadb command-line client through the Sluice gateway's MySQL door (text protocol).
--
-- Run as: mariadb --no-defaults --host=… --port=… --user=agent --password=<token> --database=<db>
--         [--skip-ssl] --batch --force -vv < mariadb_check.sql   (an agent_support token for acme)
--
-- One statement per line: integration/tests/my_clients.rs finds each statement's output by the
-- echo that -vv prints before it (a tab-separated header and rows, or "Query OK, N rows
-- affected"), and each error ("ERROR <code> (<SQLSTATE>) at line <n>: …" on stderr) by its line
-- number. --force goes on after an error; after each denial, SELECT 1 must still answer.
SELECT DISTINCT tenant_id FROM customers;
SELECT id, name FROM customers ORDER BY id;
SELECT * FROM customers WHERE id = 1;
SELECT * FROM reservations WHERE id = 1;
SELECT id, price, starts_on, notes FROM reservations WHERE id = 1;
SELECT id, price, starts_on, notes FROM reservations WHERE id = 16;
SELECT id, price, starts_on, notes FROM reservations WHERE id = 3;
UPDATE reservations SET notes = 'checked by the mariadb CLI' WHERE id = 1;
UPDATE reservations SET notes = 'checked by the mariadb CLI' WHERE id = 16;
SELECT notes FROM reservations WHERE id = 1;
UPDATE reservations SET notes = 'checked by the mariadb CLI' WHERE id = 1 AND notes = 'checked by the mariadb CLI';
INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) VALUES (2, 3, 'booked', 'inserted by the mariadb CLI', '2025-08-01', 120.00);
SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price FROM reservations WHERE notes = 'inserted by the mariadb CLI';
DELETE FROM customers;
SELECT 1;
DROP TABLE customers;
SELECT 1;
UPDATE reservations SET price = 0 WHERE id = 1;
SELECT 1;
SELECT ssn FROM customers;
SELECT 1;
SELEC 1;
SELECT 1;
SELECT LOAD_FILE('/etc/passwd');
SELECT 1;
