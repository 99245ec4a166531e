"""Looks up the scoped-catalog fixture's types with psycopg 3's TypeInfo; prints a JSON report.

Usage: python psycopg_catalog_check.py "<libpq connection string>"

`TypeInfo.fetch` and `EnumInfo.fetch` read pg_type (and pg_enum) by name. The enum `card_brand`
is used by a visible column and must be found, with its labels, and registered so that `brand`
reads back as a Python enum; `kind_canary` is used only by a hidden column, so through the
gateway it must not exist (None), as must a type that does not exist at all.
integration/tests/catalog_python_clients.rs checks exact values and compares with a direct
connection. A step that raises records its error in place of its value.
"""

import json
import sys

import psycopg
from psycopg.types import TypeInfo
from psycopg.types.enum import EnumInfo, register_enum


TYPES = {"visible": "card_brand", "hidden": "kind_canary", "missing": "no_such_type"}


def attempt(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001: the report says what failed, the test fails on it
        return {"error": f"{type(e).__name__}: {e}"}


def type_info(conn, name):
    info = TypeInfo.fetch(conn, name)
    return None if info is None else {"name": info.name, "oid": info.oid, "array_oid": info.array_oid}


def enum_info(conn, name):
    info = EnumInfo.fetch(conn, name)
    return None if info is None else {"name": info.name, "oid": info.oid, "labels": info.labels}


def registered_brand(conn):
    info = EnumInfo.fetch(conn, "card_brand")
    register_enum(info, conn)
    row = conn.execute("SELECT brand FROM customers WHERE tenant_id = 'tenant-a'").fetchone()
    return [type(row[0]).__name__, row[0].name]


def main(dsn):
    report = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Reported under what each name is, so the hidden name is not in the report.
        for what, name in TYPES.items():
            report[f"type {what}"] = attempt(lambda name=name: type_info(conn, name))
            report[f"enum {what}"] = attempt(lambda name=name: enum_info(conn, name))
        report["int4[]"] = attempt(lambda: type_info(conn, "int4[]"))
        report["registered"] = attempt(lambda: registered_brand(conn))
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
