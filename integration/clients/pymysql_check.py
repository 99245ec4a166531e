"""Drives PyMySQL through the Sluice gateway's MySQL door and prints a JSON report on stdout.

Usage: /usr/bin/python3 pymysql_check.py "<mysql:// URL>" [tls]   (an agent_support token for acme)

PyMySQL interpolates parameters on the client, so everything goes over the text protocol
(COM_QUERY). Without `tls` the connection is plain (the door, on loopback, switches the client to
mysql_clear_password); with `tls` it uses TLS without verifying the gateway's self-signed
certificate, and the door asks for caching_sha2_password full authentication (the token is sent
in clear inside TLS). The report's keys are the ones integration/tests/my_clients.rs checks for
every client; `extra` holds what only this client does. A Python error (a wrong exception type,
say) ends the script non-zero, which fails the test.
"""

import json
import ssl
import sys
from urllib.parse import unquote, urlsplit

import pymysql
from pymysql import _auth
from pymysql.connections import Connection

DENIALS = [
    "DELETE FROM customers",
    "DROP TABLE customers",
    "UPDATE reservations SET price = 0 WHERE id = 1",
    "SELECT ssn FROM customers",
    "SELEC 1",
    "SELECT LOAD_FILE('/etc/passwd')",
]
BY_ID = "SELECT id, price, starts_on, notes FROM reservations WHERE id = %s"
NOTE = "checked by PyMySQL"
INSERTED = "inserted by PyMySQL"

# What the server asked for during authentication, observed on the way into PyMySQL's own
# handlers (which still do the work).
AUTH = {}
_process_auth = Connection._process_auth
_caching_sha2 = _auth.caching_sha2_password_auth


def recording_process_auth(self, plugin_name, auth_packet):
    AUTH["switch_to"] = plugin_name.decode()
    return _process_auth(self, plugin_name, auth_packet)


def recording_caching_sha2(conn, pkt):
    # An extra-auth-data packet: 0x01, then 3 (fast auth done) or 4 (send the password).
    AUTH["caching_sha2_reply"] = list(pkt._data[:2])
    AUTH["secure"] = conn._secure
    return _caching_sha2(conn, pkt)


Connection._process_auth = recording_process_auth
_auth.caching_sha2_password_auth = recording_caching_sha2


def text(v):
    """A value as the text a report compares: None stays None, dates are ISO."""
    if v is None:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def row_text(row):
    return None if row is None else [text(v) for v in row]


def connect(url, tls, autocommit):
    u = urlsplit(url)
    kwargs = {}
    if tls:
        kwargs["ssl"] = {"check_hostname": False, "verify_mode": ssl.CERT_NONE}
    return pymysql.connect(
        host=u.hostname,
        port=u.port,
        user=unquote(u.username),
        password=unquote(u.password),
        database=u.path.lstrip("/"),
        autocommit=autocommit,
        **kwargs,
    )


def query(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def denial(conn, sql):
    """Runs a statement that must fail; returns the error and a `SELECT 1` run after it."""
    try:
        query(conn, sql)
        code, message = None, None
    except pymysql.MySQLError as e:
        code, message = e.args[0], e.args[1]
    # PyMySQL does not keep the SQLSTATE of an error.
    return {
        "sql": sql,
        "via": "text",
        "code": code,
        "sqlstate": None,
        "message": message,
        "then": query(conn, "SELECT 1")[0][0],
    }


def main(url, tls):
    report = {"client": f"PyMySQL {pymysql.__version__}"}
    conn = connect(url, tls, autocommit=True)
    try:
        report["tenants"] = sorted(
            r[0] for r in query(conn, "SELECT DISTINCT tenant_id FROM customers")
        )
        report["customers"] = [
            [text(v) for v in r] for r in query(conn, "SELECT id, name FROM customers ORDER BY id")
        ]
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM customers WHERE id = 1")
            report["star_customers"] = {
                "columns": [d[0] for d in cur.description],
                "rows": [row_text(r) for r in cur.fetchall()],
            }
            cur.execute("SELECT * FROM reservations WHERE id = 1")
            report["star_reservations"] = {
                "columns": [d[0] for d in cur.description],
                "rows": [row_text(r) for r in cur.fetchall()],
            }
        report["by_id"] = []
        for rid in (1, 16, 3):
            rows = query(conn, BY_ID, (rid,))
            report["by_id"].append(row_text(rows[0]) if rows else None)

        update = "UPDATE reservations SET notes = %s WHERE id = %s"
        with conn.cursor() as cur:
            report["update_own"] = cur.execute(update, (NOTE, 1))
            report["update_other"] = cur.execute(update, (NOTE, 16))
            update_same = cur.execute(update, (NOTE, 1))
        report["note_after"] = query(conn, "SELECT notes FROM reservations WHERE id = %s", (1,))[0][0]

        with conn.cursor() as cur:
            affected = cur.execute(
                "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (2, 3, "booked", INSERTED, "2025-08-01", "120.00"),
            )
            insert_id = cur.lastrowid
        rows = query(
            conn,
            "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price"
            " FROM reservations WHERE notes = %s",
            (INSERTED,),
        )
        report["insert"] = {"affected": affected, "rows": [row_text(r) for r in rows]}

        report["denials"] = [denial(conn, sql) for sql in DENIALS]
        tls_version = conn._sock.version() if tls else None
    finally:
        conn.close()

    # PyMySQL's default: autocommit off, so statements run in a transaction. A denial inside it
    # is an error like any other (MySQL does not abort the transaction): the next statement
    # runs, and ROLLBACK undoes the update made before the denial.
    conn = connect(url, tls, autocommit=False)
    try:
        query(conn, "UPDATE reservations SET notes = 'in a transaction' WHERE id = 3")
        try:
            query(conn, "DELETE FROM customers")
            denied_in_tx = None
        except pymysql.MySQLError as e:
            denied_in_tx = e.args[0]
        seen_in_tx = query(conn, "SELECT notes FROM reservations WHERE id = 3")[0][0]
        conn.rollback()
        after_rollback = query(conn, "SELECT notes FROM reservations WHERE id = 3")[0][0]
        conn.rollback()
    finally:
        conn.close()

    report["extra"] = {
        "auth": AUTH,
        "tls": tls_version,
        "insert_id": insert_id,
        "update_same": update_same,
        "denied_in_transaction": denied_in_tx,
        "note_in_transaction_after_denial": seen_in_tx,
        "note_after_rollback": after_rollback,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "tls")
