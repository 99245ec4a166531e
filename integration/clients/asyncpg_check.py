"""Drives asyncpg through the Sluice gateway and prints a JSON report on stdout.

Usage: /usr/bin/python3 asyncpg_check.py "<postgres:// URL>"   (an agent_support token for acme)

asyncpg prepares every statement it runs with arguments (named statements, kept in its statement
cache) and asks for binary results for every type it knows; `Connection.execute` without
arguments uses the simple protocol. Denials are tried both ways. The report's keys are the ones
integration/tests/pg_clients.rs checks for every client; `extra` holds what only this client does.
A Python error (a wrong exception type, say) ends the script non-zero, which fails the test.
"""

import asyncio
import datetime
import decimal
import json
import sys

import asyncpg

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
    return [row["id"], str(row["price"]), row["starts_on"].isoformat(), row["notes"]]


async def denial(conn, sql, via):
    """Runs a statement that must be denied; returns its SQLSTATE and a query run after it."""
    try:
        if via == "simple":
            await conn.execute(sql)
        else:
            await conn.fetch(sql)
        state = None
    except asyncpg.PostgresError as e:
        state = e.sqlstate
    return {"sql": sql, "via": via, "sqlstate": state, "then": await conn.fetchval(VEHICLES)}


async def main(url):
    report = {"client": f"asyncpg {asyncpg.__version__}"}
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT DISTINCT tenant_id FROM customers")
        report["tenants"] = sorted(r["tenant_id"] for r in rows)
        report["customers"] = await conn.fetchval("SELECT count(*) FROM customers")

        # An explicitly prepared statement, run three times.
        stmt = await conn.prepare(
            "SELECT id, price, starts_on, notes FROM reservations WHERE id = $1"
        )
        report["by_id"] = [row_json(await stmt.fetchrow(rid)) for rid in (1, 16, 3)]

        update = "UPDATE reservations SET notes = $1 WHERE id = $2"
        # execute() returns the command tag, e.g. "UPDATE 1".
        for key, rid in (("update_own", 1), ("update_other", 16)):
            tag = await conn.execute(update, "checked by asyncpg", rid)
            report[key] = int(tag.split()[-1])
        report["note_after"] = await conn.fetchval(
            "SELECT notes FROM reservations WHERE id = $1", 1
        )

        report["denials"] = [
            await denial(conn, sql, via) for sql in DENIALS for via in ("simple", "prepared")
        ]

        # A denial inside a transaction aborts it, as a server error would.
        denied_in_tx = None
        try:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE reservations SET notes = 'in a transaction' WHERE id = 3"
                )
                await conn.fetch("DELETE FROM customers")
        except asyncpg.PostgresError as e:
            denied_in_tx = e.sqlstate
        note = await conn.fetchval("SELECT notes FROM reservations WHERE id = $1", 3)

        # Typed parameters and binary results beyond integers and text.
        typed = await conn.fetchrow(
            "SELECT count(*) AS n, sum(price) AS total, max(starts_on) AS last "
            "FROM reservations WHERE starts_on >= $1 AND price > $2",
            datetime.date(2025, 3, 1),
            decimal.Decimal("100.00"),
        )
        report["extra"] = {
            "denied_in_transaction": denied_in_tx,
            "note_after_rollback": note,
            "typed": [typed["n"], str(typed["total"]), typed["last"].isoformat()],
        }
    finally:
        await conn.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
