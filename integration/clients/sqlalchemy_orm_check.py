"""Writes through SQLAlchemy 2's ORM (a declarative model and a `Session`) and prints a JSON report.

Usage: python sqlalchemy_orm_check.py psycopg|asyncpg HOST PORT DBNAME USER PASSWORD
       (an agent_support token for acme as PASSWORD)

In one session, as SQLAlchemy's ORM tutorial does it: add a reservation for acme (the ORM binds
every value, `tenant_id` too), commit, read it back, change `notes` and `status`, commit; then add
one for globex, which the gateway must refuse (`write_not_confinable`, 42501). With `asyncpg` the
same steps run in an `AsyncSession`. integration/tests/orm_writes.rs checks the report's exact
values and the table through a direct connection. An unexpected error ends the script non-zero.
"""

import asyncio
import datetime
import decimal
import importlib
import json
import sys

import sqlalchemy
from sqlalchemy import URL, Date, Integer, Numeric, String, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Reservation(Base):
    """The columns the agent_support role may see (`internal_score` is hidden)."""

    __tablename__ = "reservations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(Integer)
    vehicle_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(String(500))
    starts_on: Mapped[datetime.date] = mapped_column(Date)
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))


def row_json(r):
    return [r.id, r.tenant_id, r.customer_id, r.vehicle_id, r.status, r.notes,
            r.starts_on.isoformat(), str(r.price)]


def new(tenant, notes):
    return Reservation(tenant_id=tenant, customer_id=2, vehicle_id=3, status="booked",
                       notes=notes, starts_on=datetime.date(2026, 5, 1),
                       price=decimal.Decimal("150.25"))


def sqlstate(e):
    """The SQLSTATE under a SQLAlchemy error (psycopg's `sqlstate`, asyncpg's through the adapter)."""
    orig = e.orig
    for o in (orig, getattr(orig, "__cause__", None)):
        code = getattr(o, "sqlstate", None) or getattr(o, "pgcode", None)
        if code:
            return code
    return None


def refused(e):
    return {"sqlstate": sqlstate(e), "message": str(e.orig)}


def sync_steps(url, driver):
    engine = sqlalchemy.create_engine(url)
    report = {}
    with Session(engine) as session:
        r = new("acme", f"orm-{driver}")
        session.add(r)
        session.commit()
        report["id"] = r.id
        # After commit the object is expired: this reloads it with a SELECT.
        report["inserted"] = row_json(session.get(Reservation, r.id))
        r.notes = f"orm-{driver}-updated"
        r.status = "active"
        session.commit()
        got = session.scalars(select(Reservation).where(Reservation.id == report["id"])).one()
        report["updated"] = row_json(got)
        report["mine"] = session.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.notes.like("orm-%")))
        session.add(new("globex", f"orm-{driver}-globex"))
        try:
            session.commit()
            report["globex"] = "written"
        except DBAPIError as e:
            report["globex"] = refused(e)
            session.rollback()
        # The session goes on after the refusal.
        report["after"] = session.scalar(select(func.count()).select_from(Reservation))
    engine.dispose()
    return report


async def async_steps(url, driver):
    engine = create_async_engine(url)
    report = {}
    async_session = async_sessionmaker(engine, expire_on_commit=False)
    async with async_session() as session:
        r = new("acme", f"orm-{driver}")
        session.add(r)
        await session.commit()
        report["id"] = r.id
        await session.refresh(r)
        report["inserted"] = row_json(r)
        r.notes = f"orm-{driver}-updated"
        r.status = "active"
        await session.commit()
        got = (await session.scalars(
            select(Reservation).where(Reservation.id == report["id"])
            .execution_options(populate_existing=True))).one()
        report["updated"] = row_json(got)
        report["mine"] = await session.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.notes.like("orm-%")))
        session.add(new("globex", f"orm-{driver}-globex"))
        try:
            await session.commit()
            report["globex"] = "written"
        except DBAPIError as e:
            report["globex"] = refused(e)
            await session.rollback()
        report["after"] = await session.scalar(select(func.count()).select_from(Reservation))
    await engine.dispose()
    return report


def main(driver, host, port, name, user, password):
    if driver == "psycopg":
        url = URL.create("postgresql+psycopg", user, password, host, int(port), name,
                         query={"sslmode": "disable"})
        report = sync_steps(url, driver)
    elif driver == "asyncpg":
        url = URL.create("postgresql+asyncpg", user, password, host, int(port), name,
                         query={"ssl": "disable"})
        report = asyncio.run(async_steps(url, driver))
    else:
        sys.exit(f"unknown driver {driver}")
    driver_module = importlib.import_module(driver)
    report["versions"] = {"sqlalchemy": sqlalchemy.__version__, driver: driver_module.__version__}
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:])
