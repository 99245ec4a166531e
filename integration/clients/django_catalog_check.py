"""Runs Django's `inspectdb` (PostgreSQL backend, psycopg 3) and prints a JSON report.

Usage: python django_catalog_check.py HOST PORT DBNAME USER PASSWORD

Settings are configured in code (no project). The report holds inspectdb's whole output and,
read from it, each model's `db_table` with its field names in order.
integration/tests/catalog_python_clients.rs checks exact values and compares with a direct
connection.
"""

import io
import json
import re
import sys

import django
from django.conf import settings
from django.core.management import call_command


def models(text):
    """{db_table: [field, ...]} from inspectdb's output."""
    found, fields = {}, []
    for line in text.splitlines():
        if line.startswith("class "):
            fields = []
        elif m := re.match(r"    (\w+) = models\.", line):
            fields.append(m.group(1))
        elif m := re.match(r"        db_table = '(\w+)'", line):
            found[m.group(1)] = fields
    return found


def main(host, port, name, user, password):
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": host,
                "PORT": port,
                "NAME": name,
                "USER": user,
                "PASSWORD": password,
                "OPTIONS": {"sslmode": "disable"},
            }
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()
    import psycopg

    out = io.StringIO()
    call_command("inspectdb", stdout=out)
    text = out.getvalue()
    print(
        json.dumps(
            {"driver": psycopg.__name__, "output": text, "models": models(text)},
            indent=1,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:6])
