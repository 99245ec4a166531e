"""postgrest-py (PyPI `postgrest`, Supabase's PostgREST client) through the gateway's REST door.

Usage: postgrest_check.py REST_URL TOKEN ENGINE
  REST_URL  e.g. http://127.0.0.1:8080/rest/v1
  TOKEN     an agent_support token for tenant acme
  ENGINE    postgres | mariadb

Runs reads (select, filters, order, limit, exact count), an insert, updates and a denied delete in
the client's own idiom and prints one JSON report, which integration/tests/rest_clients.rs checks
with exact values. The HTTP status of every response is recorded with an httpx event hook (the
client's APIError carries only PostgREST's error body).

postgrest-py asks for `Prefer: return=representation` on insert and update by default, without a
`select=`, i.e. RETURNING *. The door supports RETURNING on PostgreSQL only (MySQL has none: 400
PGRST127), and RETURNING * is denied where the role may not read every column (42501, as
PostgREST with column privileges). So on PostgreSQL the writes name the columns to return
(`.select(...)` after insert/update), on MariaDB they pass `returning=ReturnMethod.minimal`; the
report records what the plain default gets on each.
"""

import json
import sys

import httpx
from postgrest import APIError, CountMethod, ReturnMethod, SyncPostgrestClient

url, token, engine = sys.argv[1], sys.argv[2], sys.argv[3]
pg = engine == "postgres"
returning = ReturnMethod.representation if pg else ReturnMethod.minimal

statuses = []


def record(response):
    statuses.append(response.status_code)


session = httpx.Client(event_hooks={"response": [record]}, timeout=30)
client = SyncPostgrestClient(url, http_client=session)
client.auth(token)
report = {}


def denied(action):
    """Runs a request that must fail; returns its PostgREST error code and HTTP status."""
    before = len(statuses)
    try:
        action()
    except APIError as e:
        return {"code": e.code, "status": statuses[-1] if len(statuses) > before else None,
                "details": e.details, "message": e.message}
    return {"code": None, "status": statuses[-1] if len(statuses) > before else None}


res = client.from_("reservations")

# Reads: every row the token sees is acme's.
rows = res.select("id", "tenant_id").execute().data
report["tenants"] = sorted({r["tenant_id"] for r in rows})
counted = res.select("id", count=CountMethod.exact).limit(3).execute()
report["count_exact"] = counted.count
report["count_page"] = len(counted.data)
report["active_desc"] = (
    res.select("id", "status", "notes")
    .eq("status", "active")
    .order("id", desc=True)
    .limit(2)
    .execute()
    .data
)
report["in_ids"] = res.select("id").in_("id", [1, 16]).order("id").execute().data
report["globex_by_id"] = res.select("id").eq("id", 16).execute().data
report["or_filter"] = (
    res.select("id")
    .or_("status.eq.booked,notes.eq.VIP")
    .gte("starts_on", "2025-04-01")
    .order("id")
    .execute()
    .data
)
report["renamed"] = (
    client.from_("customers").select("who:name").eq("id", 1).execute().data
)
report["customers_tenants"] = sorted(
    {r["tenant_id"] for r in client.from_("customers").select("tenant_id").execute().data}
)
report["hidden_column"] = denied(lambda: res.select("internal_score").execute())

# Insert: the tenant comes from the token.
new = {
    "customer_id": 1,
    "vehicle_id": 2,
    "status": "booked",
    "notes": "via postgrest-py",
    "starts_on": "2026-12-24",
    "price": 120.5,
}
def returning_columns(builder, *columns):
    """PostgreSQL: return these columns (RETURNING *, the default, would name hidden ones)."""
    return builder.select(*columns) if pg else builder


inserted = returning_columns(res.insert(new, returning=returning), "tenant_id", "notes").execute()
report["insert_status"] = statuses[-1]
report["insert_returned"] = [
    {"tenant_id": r["tenant_id"], "notes": r["notes"]} for r in inserted.data
]
report["after_insert"] = (
    res.select("tenant_id", "status").eq("notes", "via postgrest-py").execute().data
)
report["insert_other_tenant"] = denied(
    lambda: res.insert({**new, "tenant_id": "globex"}, returning=returning).execute()
)
# postgrest-py's default (return=representation, no select=): on MySQL no RETURNING (400
# PGRST127); on PostgreSQL RETURNING * would return the hidden internal_score (403).
report["insert_default_return"] = denied(lambda: res.insert(new).execute())
# A bulk insert: postgrest-py adds `columns=` with the objects' keys double-quoted
# (`"customer_id","vehicle_id",…`).
bulk = [{**new, "notes": "bulk 1"}, {**new, "notes": "bulk 2", "price": 99}]
res.insert(bulk, returning=ReturnMethod.minimal).execute()
report["bulk_insert"] = statuses[-1]
report["after_bulk"] = (
    res.select("tenant_id,notes").like("notes", "bulk*").order("notes").execute().data
)

# Update: acme's row changes, globex's does not (0 rows), an ungranted column is denied.
updated = returning_columns(
    res.update({"notes": "patched"}, count=CountMethod.exact, returning=returning).eq("id", 1),
    "id",
    "notes",
).execute()
report["update_count"] = updated.count
report["update_returned"] = [{"id": r["id"], "notes": r["notes"]} for r in updated.data]
report["after_update"] = res.select("notes").eq("id", 1).execute().data
other = returning_columns(
    res.update({"notes": "leak"}, count=CountMethod.exact, returning=returning).eq("id", 16),
    "id",
).execute()
report["update_other_tenant_count"] = other.count
report["update_other_tenant_returned"] = other.data
report["update_price"] = denied(
    lambda: res.update({"price": 1}, returning=returning).eq("id", 1).execute()
)

# Delete is forbidden for every role: 403 with the policy's SQLSTATE.
report["delete"] = denied(lambda: res.delete(returning=returning).eq("id", 1).execute())
report["after_delete"] = res.select("id").eq("id", 1).execute().data

client.aclose()
print(json.dumps(report, default=str))
