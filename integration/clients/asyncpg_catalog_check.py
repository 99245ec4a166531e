"""Reads the scoped-catalog fixture's enum and array columns with asyncpg; prints a JSON report.

Usage: python asyncpg_catalog_check.py "<postgres:// URL>"

asyncpg has no codec for a user type (the enum `card_brand`) until it asks pg_catalog about the
type's OID (its introspection query over pg_type, pg_range and friends), and it introspects the
array `int4[]` the same way; through the gateway that query is served from the scoped catalog.
The report holds tenant-a's rows (`brand`, `tags`), a read with an enum parameter (whose type
asyncpg introspects too) and the types asyncpg's prepared statements report.
integration/tests/catalog_python_clients.rs checks exact values. A step that raises records its
error in place of its value.
"""

import asyncio
import json
import sys

import asyncpg


async def attempt(coro):
    try:
        return await coro
    except Exception as e:  # noqa: BLE001: the report says what failed, the test fails on it
        return {"error": f"{type(e).__name__}: {e}"}


async def main(url):
    conn = await asyncpg.connect(url.split("?")[0], ssl=False)
    report = {}

    async def rows():
        return [
            [r["id"], r["brand"], r["tags"]]
            for r in await conn.fetch("SELECT id, brand, tags FROM customers ORDER BY id")
        ]

    async def by_brand():
        return [
            r["id"] for r in await conn.fetch("SELECT id FROM customers WHERE brand = $1", "visa")
        ]

    async def types():
        stmt = await conn.prepare("SELECT brand, tags FROM customers")
        return [[a.name, a.type.name, a.type.kind, a.type.schema] for a in stmt.get_attributes()]

    report["rows"] = await attempt(rows())
    report["by_brand"] = await attempt(by_brand())
    report["types"] = await attempt(types())
    await conn.close()
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
