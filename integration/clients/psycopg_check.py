"""Drives psycopg 3 through the Sluice gateway and prints a JSON report on stdout.

Usage: /usr/bin/python3 psycopg_check.py "<libpq DSN>"   (an agent_support token for acme)

psycopg 3 uses the extended query protocol for every execute. The reads here ask for binary
results (`cursor(binary=True)`) and server-side prepared statements (`prepare=True`), so the
gateway must forward Parse/Bind/Describe/Execute with binary result formats intact. The report's
keys are the ones integration/tests/pg_clients.rs checks for every client; `extra` holds what only
this client does. A Python error (a wrong exception type, say) ends the script non-zero, which
fails the test.
"""

import json
import sys

import psycopg

PREPARED_READ = "SELECT id, price, starts_on, notes FROM reservations WHERE id = %s"
DENIALS = [
    "DELETE FROM customers",
    "DROP TABLE customers",
    "SELECT pg_read_file('/etc/passwd')",
    "SELEC 1",
]
VEHICLES = "SELECT count(*) FROM vehicles"


def row_json(row):
    """A reservation row as JSON: id, price and date as exact text, notes."""
    if row is None:
        return None
    rid, price, starts_on, notes = row
    return [rid, str(price), starts_on.isoformat(), notes]


def scalar(conn, sql, params=None):
    with conn.cursor(binary=True) as cur:
        cur.execute(sql, params, prepare=True)
        return cur.fetchone()[0]


def denial(conn, sql, via):
    """Runs a statement that must be denied; returns its SQLSTATE and a query run after it."""
    try:
        with conn.cursor(binary=(via == "binary")) as cur:
            cur.execute(sql, prepare=(via == "binary"))
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    return {"sql": sql, "via": via, "sqlstate": state, "then": scalar(conn, VEHICLES)}


def main(dsn):
    report = {"client": f"psycopg {psycopg.__version__}"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT DISTINCT tenant_id FROM customers", prepare=True)
            report["tenants"] = sorted(r[0] for r in cur.fetchall())
            binary_results = cur.pgresult.fformat(0) == 1
        report["customers"] = scalar(conn, "SELECT count(*) FROM customers")

        # One prepared statement, run three times (psycopg prepares it on the first run).
        by_id = []
        with conn.cursor(binary=True) as cur:
            for rid in (1, 16, 3):
                cur.execute(PREPARED_READ, (rid,), prepare=True)
                by_id.append(row_json(cur.fetchone()))
                binary_results = binary_results and cur.pgresult.fformat(1) == 1
        report["by_id"] = by_id

        update = "UPDATE reservations SET notes = %s WHERE id = %s"
        with conn.cursor() as cur:
            cur.execute(update, ("checked by psycopg", 1))
            report["update_own"] = cur.rowcount
            cur.execute(update, ("checked by psycopg", 16))
            report["update_other"] = cur.rowcount
        report["note_after"] = scalar(conn, "SELECT notes FROM reservations WHERE id = %s", (1,))

        report["denials"] = [
            denial(conn, sql, via) for sql in DENIALS for via in ("text", "binary")
        ]

    # psycopg's default: a transaction opened implicitly. A denial inside it aborts it as a
    # server error would; after ROLLBACK the connection works and the earlier write is gone.
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE reservations SET notes = 'in a transaction' WHERE id = 3")
        try:
            conn.execute("DELETE FROM customers")
            denied_in_tx = None
        except psycopg.Error as e:
            denied_in_tx = e.sqlstate
        try:
            conn.execute("SELECT 1")
            after_denial = "no error"
        except psycopg.Error as e:
            after_denial = e.sqlstate
        conn.rollback()
        note = conn.execute("SELECT notes FROM reservations WHERE id = 3").fetchone()[0]
        conn.rollback()

    report["extra"] = {
        "binary_results": binary_results,
        "denied_in_transaction": denied_in_tx,
        "next_statement_in_failed_transaction": after_denial,
        "note_after_rollback": note,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
