"""Writes through Django 5's ORM (PostgreSQL backend, psycopg 3) and prints a JSON report.

Usage: python django_orm_check.py client|server HOST PORT DBNAME USER PASSWORD
       (an agent_support token for acme as PASSWORD)

`client` is Django's default binding with psycopg 3 (values quoted into the text on the client);
`server` sets the documented `"server_side_binding": True` option, so every value, `tenant_id`
too, goes as a parameter of an extended-protocol statement.

Settings are configured in code (no project) and `reservations` is an unmanaged model. As Django's
documentation shows: `Reservation.objects.create(...)` for acme (Django binds every value,
`tenant_id` too, and reads the id back with RETURNING), `.filter(...).update(notes=...)`,
`.filter(...)` queries, then a `create` for globex, which the gateway must refuse
(`write_not_confinable`, 42501). integration/tests/orm_writes.rs checks the report's exact values
and the table through a direct connection. An unexpected error ends the script non-zero.
"""

import datetime
import decimal
import json
import sys

import django
from django.conf import settings


def main(binding, host, port, name, user, password):
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": host,
                "PORT": port,
                "NAME": name,
                "USER": user,
                "PASSWORD": password,
                "OPTIONS": {"sslmode": "disable", "server_side_binding": binding == "server"},
            }
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()
    import psycopg
    from django.db import DatabaseError, models

    class Reservation(models.Model):
        tenant_id = models.CharField(max_length=32)
        customer_id = models.IntegerField()
        vehicle_id = models.IntegerField()
        status = models.CharField(max_length=20)
        notes = models.CharField(max_length=500, null=True)
        starts_on = models.DateField()
        price = models.DecimalField(max_digits=10, decimal_places=2)

        class Meta:
            app_label = "rental"
            db_table = "reservations"
            managed = False

    def row_json(r):
        return [r.id, r.tenant_id, r.customer_id, r.vehicle_id, r.status, r.notes,
                r.starts_on.isoformat(), str(r.price)]

    def create(tenant, notes):
        return Reservation.objects.create(
            tenant_id=tenant, customer_id=2, vehicle_id=3, status="booked", notes=notes,
            starts_on=datetime.date(2026, 5, 1), price=decimal.Decimal("150.25"))

    report = {"driver": psycopg.__name__,
              "versions": {"django": django.__version__, "psycopg": psycopg.__version__}}
    r = create("acme", "orm-django")
    report["id"] = r.id
    report["inserted"] = row_json(Reservation.objects.get(pk=r.id))
    report["update"] = Reservation.objects.filter(pk=r.id).update(
        notes="orm-django-updated", status="active")
    report["updated"] = row_json(Reservation.objects.get(pk=r.id))
    report["mine"] = Reservation.objects.filter(notes__startswith="orm-").count()
    report["filtered"] = list(
        Reservation.objects.filter(status="active").order_by("id").values_list("id", flat=True))
    try:
        create("globex", "orm-django-globex")
        report["globex"] = "written"
    except DatabaseError as e:
        cause = e.__cause__
        report["globex"] = {"sqlstate": getattr(cause, "sqlstate", None), "message": str(cause)}
    # The connection goes on after the refusal (autocommit: no transaction to roll back).
    report["after"] = Reservation.objects.count()
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:])
