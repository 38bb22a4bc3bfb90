"""The billing run's batched credits paths on SQLite and PostgreSQL give exactly what the
one-at-a-time paths give: grants read for a whole chunk (``grant_balances``), ledger
entries written for many customers at once (``append_many``), grants inserted in one
statement (``insert_grants``), and a chunk of mixed customers billed together against the
same customers billed one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tallybook.adapters.store.credits import (
    CreditStore,
    append_entries,
    append_many,
    grant_balances,
    insert_grants,
)
from tallybook.adapters.store.schema_credits import credit_entries
from tallybook.bootstrap import Container
from tallybook.domain.credits.ledger import AppliesTo, Category, Entry, EntryType, Grant
from tests.integration.test_customers_api import CATALOG

TENANT = "default"
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _customers(client: TestClient, *ids: str) -> None:
    for cid in ids:
        response = client.post("/v1/customers", json={"id": cid, "currency": "USD"})
        assert response.status_code == 201, response.text


def _grants(customer: str) -> list[Grant]:
    """Grants using every column: scopes, expiry or none, price, description, plan fields."""
    return [
        Grant(f"{customer}_promo", customer, "USD", Decimal("5.00"), Category.PROMOTIONAL, 10,
              JAN, FEB, AppliesTo("usage"), JAN),
        Grant(f"{customer}_paid", customer, "USD", Decimal("20.50"), Category.PAID, 50,
              JAN, None, AppliesTo("all"), JAN, Decimal("18.00"), "Prepaid pack"),
        Grant(f"{customer}_seats", customer, "USD", Decimal("0.01"), Category.PROMOTIONAL, 0,
              datetime(2026, 1, 15, 12, 30, 0, 1, tzinfo=UTC), None,
              AppliesTo("charges", ("seats", "calls")), JAN, None, None, "plan", "sub_x", "seats"),
    ]  # fmt: skip


def test_grants_read_for_a_chunk_are_the_grants_stored(
    client: TestClient, container: Container
) -> None:
    _customers(client, "a", "b", "c")
    stored = {cid: _grants(cid) for cid in ("a", "b")}
    with container.engine.begin() as conn:
        insert_grants(conn, TENANT, stored["a"] + stored["b"])
        append_entries(
            conn, TENANT, "a", "USD",
            [Entry(g.id, EntryType.GRANT, g.amount, g.effective_at) for g in stored["a"]]
            + [Entry("a_promo", EntryType.DEBIT, Decimal("-1.25"), FEB, invoice="inv_1", line=3)],
            NOW,
        )  # fmt: skip
    with container.engine.connect() as conn:
        found = grant_balances(conn, TENANT, ["a", "b", "c"])
    assert set(found) == {"a", "b"}  # c has no grants
    by_id = {grant.id: (grant, left) for grants in found.values() for grant, left in grants}
    for grant in stored["a"] + stored["b"]:
        assert by_id[grant.id][0] == grant  # every field, typed as written
    assert by_id["a_promo"][1] == Decimal("3.75")  # 5.00 - 1.25
    assert by_id["a_paid"][1] == Decimal("20.50")
    assert by_id["b_paid"][1] == Decimal("0")  # no entries yet
    store = CreditStore(container.engine)
    assert store.get_grant(TENANT, "b_seats") == stored["b"][2]
    assert [g.id for g, _ in store.balances(TENANT, "a")] == ["a_paid", "a_promo", "a_seats"]


def _entries(customer: str, n: int) -> list[Entry]:
    return [
        Entry(f"{customer}_g", EntryType.GRANT, Decimal("10.00"), JAN),
        *(
            Entry(f"{customer}_g", EntryType.DEBIT, Decimal(f"-{k}.0{k}"), FEB,
                  invoice=f"inv_{customer}", line=k)
            for k in range(1, n)
        ),
        Entry(f"{customer}_g", EntryType.EXPIRY, Decimal("-0.50"),
              datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ]  # fmt: skip


def _ledger_rows(container: Container, customers: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    columns = [c for c in credit_entries.c if c.name not in ("tenant_id", "customer_id")]
    stmt = (
        select(credit_entries.c.customer_id, *columns)
        .where(credit_entries.c.customer_id.in_(customers))
        .order_by(credit_entries.c.customer_id, credit_entries.c.currency, credit_entries.c.seq)
    )
    rows: dict[str, list[tuple[Any, ...]]] = {c: [] for c in customers}
    with container.engine.connect() as conn:
        for row in conn.execute(stmt):
            customer, *values = row
            rows[customer].append(tuple(v.replace(customer, "X") if isinstance(v, str) else v
                                        for v in values))  # fmt: skip
    return rows


def test_ledger_entries_of_many_customers_at_once_match_one_ledger_at_a_time(
    container: Container,
) -> None:
    """Customers with and without earlier entries, two currencies, interleaved in one
    ``append_many``: the same rows (seq, running balance, every column) as one
    ``append_entries`` per ledger."""
    pairs = [("a1", "b1", 3), ("a2", "b2", 1), ("a3", "b3", 5)]
    earlier = {"a1": 2, "b1": 2, "a3": 1, "b3": 1}  # ledgers that already have entries
    with container.engine.begin() as conn:
        for customer, count in earlier.items():
            append_entries(conn, TENANT, customer, "USD", _entries(customer, count), NOW)
    with container.engine.begin() as conn:
        for one, _, n in pairs:
            append_entries(conn, TENANT, one, "USD", _entries(one, n), NOW)
            append_entries(conn, TENANT, one, "EUR", _entries(one, 2), NOW)
    with container.engine.begin() as conn:
        append_many(
            conn,
            TENANT,
            [
                *((many, "USD", _entries(many, n)) for _, many, n in pairs),
                ("b4", "USD", []),  # nothing to write
                *((many, "EUR", _entries(many, 2)) for _, many, _ in reversed(pairs)),
            ],
            NOW,
        )
    rows = _ledger_rows(container, [c for one, many, _ in pairs for c in (one, many)])
    for one, many, n in pairs:
        assert rows[one] == rows[many]
        assert len(rows[one]) == (n + 1) + 3 + (earlier.get(one, 0) + 1 if one in earlier else 0)
    # a1: 3 earlier USD entries (10.00, -1.01, -0.50), then 10.00, -1.01, -2.02, -0.50
    usd = [r for r in rows["a1"] if r[0] == "USD"]
    assert [(r[1], r[3], r[4], r[8]) for r in usd] == [
        (1, "grant", Decimal("10.00"), Decimal("10.00")),
        (2, "debit", Decimal("-1.01"), Decimal("8.99")),
        (3, "expiry", Decimal("-0.50"), Decimal("8.49")),
        (4, "grant", Decimal("10.00"), Decimal("18.49")),
        (5, "debit", Decimal("-1.01"), Decimal("17.48")),
        (6, "debit", Decimal("-2.02"), Decimal("15.46")),
        (7, "expiry", Decimal("-0.50"), Decimal("14.96")),
    ]
    assert usd[5][5:8] == (FEB, "inv_X", 2)  # at, invoice, line
    assert usd[6][5] == datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert {r[9] for r in rows["a1"]} == {NOW}  # created_at, to the microsecond
    eur = [r for r in rows["b2"] if r[0] == "EUR"]
    assert [(r[1], r[8]) for r in eur] == [
        (1, Decimal("10.00")), (2, Decimal("8.99")), (3, Decimal("8.49"))
    ]  # fmt: skip


# -- a chunk of mixed customers against the same customers one by one ----------------------


def _account(client: TestClient, customer: str, calls: int, grants: list[dict[str, Any]]) -> None:
    _customers(client, customer)
    created = client.post(
        "/v1/subscriptions",
        json={
            "customer": customer,
            "plan": "monthly",
            "start": "2026-01-01T00:00:00Z",
            "quantities": {"seats": 2},
        },
    )
    assert created.status_code == 201, created.text
    events = [
        {"id": f"{customer}-{n}", "customer": customer, "type": "call",
         "timestamp": "2026-01-10T00:00:00Z"}
        for n in range(calls)
    ]  # fmt: skip
    if events:
        assert client.post("/v1/events", json=events).json()["accepted"] == calls
    for grant in grants:
        body = {"currency": "USD", "effective_at": "2026-01-01T00:00:00Z", **grant}
        body["id"] = f"{customer}_{grant['id']}"
        response = client.post(f"/v1/customers/{customer}/credit-grants", json=body)
        assert response.status_code == 201, response.text


ACCOUNTS: list[tuple[str, int, list[dict[str, Any]]]] = [
    # a usage grant expiring on Jan 20 (its rest expires), and an `all` grant
    ("1", 12, [{"id": "promo", "amount": "20.00", "priority": 10,
                "expires_at": "2026-01-20T00:00:00Z"},
               {"id": "big", "amount": "100.00", "applies_to": "all"}]),
    ("2", 5, []),  # no credits at all
    # a grant naming the seat charge only, and a small never-expiring usage grant
    ("3", 8, [{"id": "seats", "amount": "7.00", "applies_to": {"charges": ["seats"]}},
              {"id": "small", "amount": "3.00", "priority": 60}]),
    ("4", 0, [{"id": "late", "amount": "4.00", "effective_at": "2026-02-15T00:00:00Z"}]),
]  # fmt: skip


def _ledger(client: TestClient, customer: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/customers/{customer}/credit-ledger?limit=1000")
    assert response.status_code == 200, response.text
    invoices = client.get(f"/v1/invoices?customer={customer}&limit=100").json()["data"]
    period = {i["id"]: (i["kind"], i["period_start"], i["number"] is not None) for i in invoices}
    return [
        {**e, "grant": e["grant"].removeprefix(customer), "invoice": period.get(e["invoice"])}
        for e in response.json()["data"]
    ]


def _invoices(client: TestClient, customer: str) -> list[tuple[Any, ...]]:
    invoices = client.get(f"/v1/invoices?customer={customer}&limit=100").json()["data"]
    return sorted(
        (
            i["kind"], i["period_start"], i["status"], i["subtotal"], i["credits_applied"],
            i["total"],
            [(line["type"], line["charge"].removeprefix(customer), line["amount"],
              line["description"].replace(customer, "X")) for line in i["lines"]],
        )
        for i in invoices
    )  # fmt: skip


def test_a_chunk_of_mixed_customers_bills_credits_as_one_by_one(
    client: TestClient, container: Container
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for suffix, calls, grants in ACCOUNTS:
        for group in ("one", "many"):
            _account(client, f"{group}{suffix}", calls, grants)
    as_of = datetime(2026, 2, 2, tzinfo=UTC)
    for suffix, _, _ in ACCOUNTS:
        container.billing.bill_accounts(TENANT, [f"one{suffix}"], as_of)
    together = container.billing.bill_accounts(
        TENANT, [f"many{suffix}" for suffix, _, _ in ACCOUNTS], as_of
    )
    assert together.accounts == len(ACCOUNTS) and together.failed == 0
    for suffix, _, _ in ACCOUNTS:
        one, many = f"one{suffix}", f"many{suffix}"
        assert _ledger(client, one) == _ledger(client, many), suffix
        assert _invoices(client, one) == _invoices(client, many), suffix
    # worked by hand for customer 1: the opening invoice's 2 seats (20.00) are paid by
    # "big" (all lines); January's 12 calls by "promo" (priority 10) and February's
    # seats in advance by "big"; promo's 8.00 left expires at its expiry
    ledger = [(e["grant"], e["type"], e["amount"], e["balance_after"])
              for e in _ledger(client, "many1")]  # fmt: skip
    assert ledger == [
        ("_promo", "grant", "20.00", "20.00"),
        ("_big", "grant", "100.00", "120.00"),
        ("_big", "debit", "-20.00", "100.00"),
        ("_promo", "debit", "-12.00", "88.00"),
        ("_big", "debit", "-20.00", "68.00"),
        ("_promo", "expiry", "-8.00", "60.00"),
    ]
    assert _ledger(client, "many2") == []
    assert [(e["grant"], e["type"], e["amount"]) for e in _ledger(client, "many4")] == [
        ("_late", "grant", "4.00")  # effective after the period: pays nothing yet
    ]
