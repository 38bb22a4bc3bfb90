"""A paid credit grant is invoiced (CONTRACT Part 2, "Credits"): one ``credit_purchase``
line at ``purchase_price`` (default ``amount``) on an invoice of its own, finalized and
numbered; the grant counts whether or not that invoice is paid. Both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.integration.test_credits_api import GRANTS, _setup


def _purchases(client: TestClient) -> list[dict[str, Any]]:
    found = client.get("/v1/invoices", params={"customer": "a"}).json()["data"]
    return [i for i in found if any(li["type"] == "credit_purchase" for li in i["lines"])]


def test_a_paid_grant_is_billed_on_its_own_finalized_invoice(client: TestClient) -> None:
    _setup(client)
    body = {"id": "p1", "amount": "100.00", "currency": "USD", "category": "paid"}
    assert client.post(GRANTS, json=body).status_code == 201
    cheap = {**body, "id": "p2", "amount": "50.00", "purchase_price": "45.00"}
    assert client.post(GRANTS, json=cheap).status_code == 201
    promo = {"id": "free", "amount": "10.00", "currency": "USD"}
    assert client.post(GRANTS, json=promo).status_code == 201
    # a retried request (same id, same body) does not bill twice
    assert client.post(GRANTS, json=body).status_code == 200

    bought = _purchases(client)
    assert [len(i["lines"]) for i in bought] == [1, 1]
    assert [i["lines"][0]["charge"] for i in bought] == ["p1", "p2"]
    assert [Decimal(i["total"]) for i in bought] == [Decimal("100.00"), Decimal("45.00")]
    assert all(i["status"] == "finalized" and i["number"] for i in bought)
    assert bought[0]["number"] != bought[1]["number"]

    # unpaid, the grants still count: 100 + 50 + 10
    credits = client.get("/v1/customers/a/credits").json()
    assert Decimal(credits["balance"]) == Decimal("160.00")
    paid = client.post(f"/v1/invoices/{bought[0]['id']}/pay")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"


def test_two_purchases_at_one_instant_get_two_invoices(settings: Settings) -> None:
    clock = FixedClock(datetime(2026, 1, 15, tzinfo=UTC))
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    try:
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with TestClient(create_app(container=container), headers=headers) as client:
            _setup(client)
            for n in (1, 2, 3):
                body = {"id": f"p{n}", "amount": "10.00", "currency": "USD", "category": "paid"}
                assert client.post(GRANTS, json=body).status_code == 201
            bought = _purchases(client)
            assert [i["lines"][0]["charge"] for i in bought] == ["p1", "p2", "p3"]
            assert len({i["number"] for i in bought}) == 3
    finally:
        container.close()
