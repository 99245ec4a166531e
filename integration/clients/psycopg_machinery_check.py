"""Statements psycopg 3 sends on its own, through the Sluice gateway; prints a JSON report.

Usage: /usr/bin/python3 psycopg_machinery_check.py "<libpq DSN>"   (an agent_support token for acme)

psycopg keeps a cache of server-side prepared statements (a query run `prepare_threshold` times,
or with `prepare=True`, is prepared) and manages it with SQL of its own:
- after every ROLLBACK on a connection that has prepared statements it sends `DEALLOCATE ALL`;
- when the cache holds more than `prepared_max` statements it sends `DEALLOCATE <name>` for the
  oldest, right after the query that overflowed it.
Each step reports the SQLSTATE it failed with (null when it worked) and a query run after it.
"""

import json
import sys

import psycopg

VEHICLES = "SELECT count(*) FROM vehicles"


def outcome(conn, step):
    try:
        result = step()
        state = None
    except psycopg.Error as e:
        result, state = None, e.sqlstate
    return {"result": result, "sqlstate": state, "then": conn.execute(VEHICLES).fetchone()[0]}


def main(dsn):
    report = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT count(*) FROM customers", prepare=True)
        report["rollback_with_prepared_statements"] = outcome(conn, conn.rollback)
        conn.rollback()

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.prepared_max = 2
        report["cache_eviction"] = [
            outcome(
                conn,
                lambda: conn.execute(f"SELECT {i} + count(*) FROM vehicles", prepare=True)
                .fetchone()[0],
            )
            for i in range(4)
        ]
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
