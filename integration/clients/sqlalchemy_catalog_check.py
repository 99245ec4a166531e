"""Reflects the scoped-catalog fixture with SQLAlchemy 2 and prints a JSON report on stdout.

Usage: python sqlalchemy_catalog_check.py <psycopg|psycopg2|asyncpg|pymysql> "<URL>"

The URL is a `postgres://` or `mysql://` URL (the gateway's, with a token as password, or the
backend's own); its query string is dropped and the driver's idea of a plain loopback connection
is used. Through `inspect()` the report lists the tables and views, and for each table its
columns, primary key, foreign keys, indexes, unique and check constraints and comment; then each
table is loaded with `Table(..., autoload_with=...)` and read whole, ordered by id.
integration/tests/catalog_python_clients.rs compares it with exact values and with the same
report made on a direct connection. A step that raises records its error (type and message)
in place of its value, so one failure does not hide the others.
"""

import asyncio
import json
import sys
from urllib.parse import unquote, urlsplit

from sqlalchemy import MetaData, Table, inspect, select
from sqlalchemy.engine import URL, create_engine

DRIVERS = {
    "psycopg": "postgresql+psycopg",
    "psycopg2": "postgresql+psycopg2",
    "asyncpg": "postgresql+asyncpg",
    "pymysql": "mysql+pymysql",
}


def engine_url(driver, url):
    parts = urlsplit(url)
    return URL.create(
        DRIVERS[driver],
        username=unquote(parts.username or ""),
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname,
        port=parts.port,
        database=parts.path.lstrip("/"),
    )


def attempt(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001: the report says what failed, the test fails on it
        return {"error": f"{type(e).__name__}: {e}"}


def plain(value):
    """A reflected value as JSON: types and defaults as their text."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def reflect(conn):
    insp = inspect(conn)
    report = {
        "tables": attempt(lambda: sorted(insp.get_table_names())),
        "views": attempt(lambda: sorted(insp.get_view_names())),
    }
    tables = report["tables"] if isinstance(report["tables"], list) else []
    for key, call in [
        ("columns", insp.get_columns),
        ("pk", insp.get_pk_constraint),
        ("fks", insp.get_foreign_keys),
        ("indexes", insp.get_indexes),
        ("unique", insp.get_unique_constraints),
        ("checks", insp.get_check_constraints),
        ("comment", insp.get_table_comment),
    ]:
        report[key] = {t: attempt(lambda t=t, call=call: plain(call(t))) for t in tables}
    report["autoload"] = {}
    report["rows"] = {}
    for t in ("customers", "orders"):
        table = attempt(lambda t=t: Table(t, MetaData(), autoload_with=conn))
        if isinstance(table, dict):
            report["autoload"][t] = table
            continue
        report["autoload"][t] = [c.name for c in table.columns]
        report["rows"][t] = attempt(
            lambda table=table: [
                plain(list(r)) for r in conn.execute(select(table).order_by(table.c.id))
            ]
        )
    return report


async def reflect_async(url):
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, connect_args={"ssl": False})
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(reflect)
    finally:
        await engine.dispose()


def main():
    driver, url = sys.argv[1], sys.argv[2]
    sa_url = engine_url(driver, url)
    if driver == "asyncpg":
        report = asyncio.run(reflect_async(sa_url))
    else:
        engine = create_engine(sa_url)
        with engine.connect() as conn:
            report = reflect(conn)
        engine.dispose()
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
