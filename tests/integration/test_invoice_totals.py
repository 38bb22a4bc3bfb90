"""Per-invoice usage revenue (``invoice_totals``) on SQLite and PostgreSQL: the billing run
writes it when an invoice finalizes (not for drafts), and migration 0018's backfill gives
the same usage revenue, hence the same MRR, as the query MRR used before it (the lines'
JSON unpacked by the database; kept below as the reference)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text

from tallybook.adapters.store.analytics_sql import AnalyticsStore
from tallybook.adapters.store.migrate import alembic_config
from tallybook.adapters.store.schema_analytics import invoice_totals
from tallybook.adapters.store.types import to_micros
from tallybook.bootstrap import Container
from tallybook.domain.analytics.months import Month
from tallybook.domain.analytics.usage_revenue import usage_revenue

METER = {"key": "api_calls", "event_type": "api_call", "aggregation": "sum", "value": "calls"}
CATALOG = {
    "meters": [METER],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "100.00", "timing": "in_advance"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "included": 1000,
                    "model": "per_unit",
                    "unit_amount": "0.01",
                },
            ],
        }
    ],
}

# The usage-revenue query MRR ran before migration 0018 (adapters/store/analytics_sql.py).
_OLD_WHERE = "i.tenant_id = :tenant AND i.status IN ('finalized', 'paid') AND i.issue_at >= :since"
_OLD_PG = f"""
SELECT COALESCE(l->>'customer', i.customer_id) AS customer, i.currency AS currency,
       substr(l->>'period_start', 1, 7) AS month, SUM((l->>'amount')::numeric)::text AS amount
FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.lines) AS l
WHERE {_OLD_WHERE} AND l->>'type' IN ('usage', 'adjustment')
  AND l->>'period_start' IS NOT NULL
GROUP BY 1, 2, 3
"""
_OLD_SQLITE = f"""
SELECT COALESCE(json_extract(l.value, '$.customer'), i.customer_id) AS customer,
       i.currency AS currency, substr(json_extract(l.value, '$.period_start'), 1, 7) AS month,
       json_extract(l.value, '$.amount') AS amount
FROM invoices i, json_each(i.lines) AS l
WHERE {_OLD_WHERE} AND json_extract(l.value, '$.type') IN ('usage', 'adjustment')
  AND json_extract(l.value, '$.period_start') IS NOT NULL
"""


def _old_revenue(container: Container, since: Month) -> dict[tuple[str, str, str], Decimal]:
    engine = container.engine
    sql = _OLD_PG if engine.dialect.name == "postgresql" else _OLD_SQLITE
    sums: dict[tuple[str, str, str], Decimal] = {}
    with engine.connect() as conn:
        for row in conn.execute(text(sql), {"tenant": "default", "since": to_micros(since.start)}):
            key = (row.customer, row.currency, row.month)
            sums[key] = sums.get(key, Decimal(0)) + Decimal(row.amount)
    return sums


def _new_revenue(container: Container, since: Month) -> dict[tuple[str, str, str], Decimal]:
    store = AnalyticsStore(container.engine)  # what MRR reads through
    return {
        (r.customer, r.currency, r.month): r.amount
        for r in store.revenue_by_month("default", since.start)
    }


def _events(customer: str, day: str, calls: int, key: str) -> list[dict[str, Any]]:
    return [
        {
            "id": key,
            "customer": customer,
            "type": "api_call",
            "timestamp": f"{day}T12:00:00Z",
            "properties": {"calls": calls},
        }
    ]


def _run(client: TestClient, as_of: str) -> None:
    response = client.post("/v1/billing-runs", json={"as_of": as_of})
    assert response.status_code == 200, response.text


def _post(client: TestClient, path: str, body: Any) -> Any:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _seed(client: TestClient) -> None:
    """Usage over four months, a parent billed for its child, a late event (an adjustment
    line for an earlier month), an immediate cancellation (a credit note), a paid and a
    voided invoice."""
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    _post(client, "/v1/customers", {"id": "parent", "currency": "USD"})
    _post(client, "/v1/customers", {"id": "child", "currency": "USD", "parent": "parent"})
    subs = {}
    for cid in ("parent", "child", "solo", "gone"):
        if cid in ("solo", "gone"):
            _post(client, "/v1/customers", {"id": cid, "currency": "USD"})
        body = {"customer": cid, "plan": "growth", "start": "2025-01-01T00:00:00Z"}
        subs[cid] = _post(client, "/v1/subscriptions", body)["id"]
    for month, calls in (("01", 2500), ("02", 1800), ("03", 4200)):
        for n, cid in enumerate(("parent", "child", "solo", "gone")):
            events = _events(cid, f"2025-{month}-10", calls + 100 * n, f"{cid}-{month}")
            _post(client, "/v1/events", events)
    _run(client, "2025-02-01T02:00:00Z")
    # a late January event: February's run bills it as an adjustment for January
    _post(client, "/v1/events", _events("solo", "2025-01-20", 700, "solo-late"))
    _run(client, "2025-03-01T02:00:00Z")
    _post(
        client,
        f"/v1/subscriptions/{subs['gone']}/cancel",
        {"at": "2025-03-15T00:00:00Z", "mode": "immediately"},
    )
    _run(client, "2025-04-01T02:00:00Z")
    final = client.get("/v1/invoices", params={"status": "finalized", "limit": 100}).json()["data"]
    solo = [i for i in final if i["customer"] == "solo"]
    _post(client, f"/v1/invoices/{solo[0]['id']}/pay", {})
    parent = [i for i in final if i["customer"] == "parent" and i["total"] != "0.00"]
    _post(client, f"/v1/invoices/{parent[-1]['id']}/void", {})


def _lines(client: TestClient) -> list[tuple[str, dict[str, Any]]]:
    rows = client.get("/v1/invoices", params={"limit": 100}).json()["data"]
    return [(invoice["status"], line) for invoice in rows for line in invoice["lines"]]


def test_finalizing_writes_the_invoice_usage_revenue(
    client: TestClient, container: Container
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    _post(client, "/v1/customers", {"id": "a", "currency": "USD"})
    body = {"customer": "a", "plan": "growth", "start": "2025-01-01T00:00:00Z"}
    _post(client, "/v1/subscriptions", body)
    _post(client, "/v1/events", _events("a", "2025-01-10", 3000, "a1"))

    def stored() -> dict[str, list[tuple[str, str, Decimal]]]:
        found: dict[str, list[tuple[str, str, Decimal]]] = {}
        with container.engine.connect() as conn:
            for row in conn.execute(select(invoice_totals)):
                found.setdefault(row.invoice_id, []).append(
                    (row.customer_id, row.month, row.usage_total)
                )
        return found

    _run(client, "2025-02-01T00:30:00Z")  # inside the grace period: a draft, no totals
    drafts = client.get("/v1/invoices", params={"status": "draft"}).json()["data"]
    assert drafts and stored() == {}
    _run(client, "2025-02-01T02:00:00Z")
    january = next(
        i
        for i in client.get("/v1/invoices").json()["data"]
        if i["period_start"].startswith("2025-01")
        and i["status"] == "finalized"
        and any(line["type"] == "usage" for line in i["lines"])
    )
    # (3,000 - 1,000) x 0.01 for January, written with the finalized invoice
    assert stored()[january["id"]] == [("a", "2025-01", Decimal("20.00"))]
    assert _new_revenue(container, Month(2025, 1)) == {("a", "USD", "2025-01"): Decimal("20.00")}
    _post(client, f"/v1/invoices/{january['id']}/void", {})
    assert _new_revenue(container, Month(2025, 1)) == {}  # a void stops counting
    rows = client.get("/v1/analytics/mrr", params={"from": "2025-01", "to": "2025-01"}).json()
    assert rows[0]["usage_mrr"] == "0.00"


def test_backfill_gives_the_same_revenue_and_mrr_as_the_old_query(
    client: TestClient, container: Container
) -> None:
    _seed(client)
    lines = _lines(client)
    # the seed covers what the rule distinguishes
    assert any(line["type"] == "adjustment" for _, line in lines)
    assert any(line["customer"] == "child" for _, line in lines)
    assert any(status == "void" and line["type"] == "usage" for status, line in lines)
    assert any(status == "paid" for status, _ in lines)
    assert any(line["type"] == "proration" for _, line in lines)
    since = Month(2024, 12)
    expected = _old_revenue(container, since)
    assert expected and _new_revenue(container, since) == expected
    mrr = client.get("/v1/analytics/mrr", params={"from": "2025-01", "to": "2025-04"}).json()

    # as before migration 0018: no rows; then its backfill (what its upgrade runs), found
    # through Alembic so it is the migration's own code whatever revision it follows
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0018_invoice_totals")
    assert script is not None
    with container.engine.begin() as conn:
        conn.execute(delete(invoice_totals))
    assert _new_revenue(container, since) == {}
    invoices = client.get("/v1/invoices", params={"limit": 100}).json()["data"]
    final = [invoice for invoice in invoices if invoice["status"] != "draft"]
    with container.engine.begin() as conn:
        assert script.module.backfill(conn) == len(final)  # every final invoice read
    assert _new_revenue(container, since) == expected
    assert _old_revenue(container, since) == expected
    assert (
        client.get("/v1/analytics/mrr", params={"from": "2025-01", "to": "2025-04"}).json() == mrr
    )
    with container.engine.connect() as conn:
        backfilled = {
            (row.invoice_id, row.customer_id, row.month): row.usage_total
            for row in conn.execute(select(invoice_totals))
        }
    written = {
        (invoice["id"], customer, month): amount
        for invoice in invoices
        if invoice["status"] != "draft"
        for (customer, month), amount in usage_revenue(
            invoice["lines"], invoice["customer"]
        ).items()
    }
    assert backfilled == written and len(written) >= 10


def test_usage_revenue_rule() -> None:
    lines: Iterator[dict[str, Any]] = iter(
        [
            {
                "type": "usage",
                "amount": "1.10",
                "period_start": "2025-01-01T00:00:00Z",
                "customer": None,
            },
            {
                "type": "adjustment",
                "amount": "-0.10",
                "period_start": "2024-12-01T00:00:00Z",
                "customer": "kid",
            },
            {
                "type": "usage",
                "amount": "0.00",
                "period_start": "2025-01-01T00:00:00Z",
                "customer": "kid",
            },
            {
                "type": "flat",
                "amount": "9.00",
                "period_start": "2025-01-01T00:00:00Z",
                "customer": None,
            },
            {"type": "usage", "amount": "5.00", "period_start": None, "customer": None},
            {
                "type": "usage",
                "amount": "2.05",
                "period_start": "2025-01-31T00:00:00Z",
                "customer": None,
            },
        ]
    )
    assert usage_revenue(lines, "acct") == {
        ("acct", "2025-01"): Decimal("3.15"),
        ("kid", "2024-12"): Decimal("-0.10"),
        ("kid", "2025-01"): Decimal("0.00"),  # present: the old query yielded zero sums too
    }
