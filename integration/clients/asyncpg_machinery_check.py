"""Statements asyncpg sends on its own, through the Sluice gateway; prints a JSON report.

Usage: /usr/bin/python3 asyncpg_machinery_check.py "<postgres:// URL>"
(an agent_support token for acme)

- A pool resets every connection it gets back with `SELECT pg_advisory_unlock_all(); CLOSE ALL;
  UNLISTEN *; RESET ALL;` (the parts the server supports).
- A result type asyncpg has no built-in codec for (int4[], say) makes it look the type up in
  pg_catalog.pg_type first.
Each step reports its result, the SQLSTATE it failed with (null when it worked) and a query run
after it.
"""

import asyncio
import json
import sys

import asyncpg

VEHICLES = "SELECT count(*) FROM vehicles"


async def outcome(conn, step):
    try:
        result = await step()
        state = None
    except asyncpg.PostgresError as e:
        result, state = None, e.sqlstate
    return {"result": result, "sqlstate": state, "then": await conn.fetchval(VEHICLES)}


async def main(url):
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    conn = await asyncpg.connect(url)

    async def pooled_query():
        async with pool.acquire() as pooled:
            return await pooled.fetchval("SELECT count(*) FROM customers")

    try:
        report = {
            "pool_release": [await outcome(conn, pooled_query) for _ in range(2)],
            "int_array": await outcome(
                conn, lambda: conn.fetchval("SELECT array_agg(id ORDER BY id) FROM customers")
            ),
        }
    finally:
        await conn.close()
        pool.terminate()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
