"""Credits bought are taxed when bought; the usage they pay is taxed net of them (issue 16
with the credits issue's order "credits, then tax"; docs/invoicing-for-finance.md).

A paid grant's and an automatic top-up's ``credit_purchase`` invoice carries the
customer's tax (exclusive on top, inclusive inside, none with a reverse-charge note) and
the parties; the usage invoice those credits pay has no tax on the credited part. Both
stores, through the HTTP API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

D = Decimal
CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "eu",
            "name": "eu",
            "currency": "EUR",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "0.35",
                }
            ],
        }
    ],
}
RATES = [
    {"id": "de_vat", "name": "DE VAT", "percentage": "19", "country": "DE"},
    {"id": "uk_vat", "name": "UK VAT", "percentage": "20", "inclusive": True, "country": "GB"},
]
CUSTOMERS = [
    ("de", "EUR", {"tax_rates": ["de_vat"], "legal_name": "Müller GmbH"}),
    ("uk", "GBP", {"tax_rates": ["uk_vat"]}),
    ("fr", "EUR", {"tax_rates": ["de_vat"], "tax_exempt": "reverse_charge"}),
]


def _setup(client: TestClient) -> None:
    assert client.patch("/v1/tenant", json={"grace_seconds": 0}).status_code == 200
    seller = {"legal_name": "Tallybook Demo GmbH", "tax_id": "DE123456789"}
    assert client.patch("/v1/tenant", json={"seller": seller}).status_code == 200
    for rate in RATES:
        assert client.post("/v1/tax-rates", json=rate).status_code == 201
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for customer, currency, details in CUSTOMERS:
        body = {"id": customer, "currency": currency}
        assert client.post("/v1/customers", json=body).status_code == 201
        patched = client.patch(f"/v1/customers/{customer}", json=details)
        assert patched.status_code == 200, patched.text


def _buy(client: TestClient, customer: str, currency: str, amount: str, **extra: str) -> None:
    body = {
        "id": f"paid_{customer}",
        "amount": amount,
        "currency": currency,
        "category": "paid",
        "effective_at": "2026-01-01T00:00:00Z",
        **extra,
    }
    answer = client.post(f"/v1/customers/{customer}/credit-grants", json=body)
    assert answer.status_code == 201, answer.text


def _purchases(client: TestClient, customer: str) -> list[dict[str, Any]]:
    found = client.get("/v1/invoices", params={"customer": customer}).json()["data"]
    return [i for i in found if any(li["type"] == "credit_purchase" for li in i["lines"])]


def _totals(invoice: dict[str, Any]) -> tuple[Decimal, ...]:
    keys = ("subtotal", "credits_applied", "tax_total", "total")
    return tuple(D(invoice[k]) for k in keys)


def test_credit_purchases_carry_the_customers_tax_and_the_parties(client: TestClient) -> None:
    _setup(client)
    _buy(client, "de", "EUR", "50.00", purchase_price="40.00")
    _buy(client, "uk", "GBP", "100.00")
    _buy(client, "fr", "EUR", "100.00")

    (de,) = _purchases(client, "de")
    # 40.00 paid for 50.00 of credits: 19 % exclusive on the price, 7.60
    assert de["status"] == "finalized" and de["number"]
    assert de["lines"][0]["tax_amount"] == "7.60"
    assert _totals(de) == (D("40.00"), D("0.00"), D("7.60"), D("47.60"))
    assert de["parties"]["seller"]["legal_name"] == "Tallybook Demo GmbH"
    assert de["parties"]["buyer"]["legal_name"] == "Müller GmbH"

    (uk,) = _purchases(client, "uk")  # inclusive: 100.00 x 20/120 inside the price
    assert _totals(uk) == (D("100.00"), D("0.00"), D("16.67"), D("100.00"))

    (fr,) = _purchases(client, "fr")  # reverse charge: no tax, the note
    assert _totals(fr) == (D("100.00"), D("0.00"), D("0.00"), D("100.00"))
    assert "Reverse charge" in fr["tax_note"]


def test_usage_paid_by_bought_credits_is_not_taxed_again(client: TestClient) -> None:
    _setup(client)
    _buy(client, "de", "EUR", "20.00")  # taxed when bought: 3.80
    sub = {"customer": "de", "plan": "eu", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    events = [
        {"id": f"e{n}", "customer": "de", "type": "call", "timestamp": "2026-01-10T00:00:00Z"}
        for n in range(100)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 100
    run = client.post("/v1/billing-runs", json={"as_of": "2026-02-01T00:30:00Z"})
    assert run.status_code == 200, run.text
    found = client.get("/v1/invoices", params={"customer": "de"}).json()["data"]
    (usage,) = [i for i in found if i["issue_at"] == "2026-02-01T00:00:00Z"]
    # 100 x 0.35 = 35.00; the credits pay 20.00 before tax; 15.00 x 19 % = 2.85
    calls = next(li for li in usage["lines"] if li["charge"] == "calls")
    assert (calls["credited"], calls["tax_amount"]) == ("20.00", "2.85")
    assert _totals(usage) == (D("35.00"), D("20.00"), D("2.85"), D("17.85"))
    (bought,) = _purchases(client, "de")
    # 20.00 of credits were taxed once, when bought; 15.00 of usage when billed
    assert D(bought["tax_total"]) + D(usage["tax_total"]) == D("35.00") * D("0.19")


def test_an_automatic_top_up_is_taxed_like_a_purchase(client: TestClient) -> None:
    _setup(client)
    rule = {"threshold": "10.00", "target": "100.00"}
    answer = client.put("/v1/customers/de/credit-top-up", json=rule)
    assert answer.status_code == 200, answer.text
    (topped,) = _purchases(client, "de")
    # nothing available: 100.00 bought, 19.00 tax on top
    assert _totals(topped) == (D("100.00"), D("0.00"), D("19.00"), D("119.00"))
    assert topped["parties"]["seller"]["tax_id"] == "DE123456789"
    credits = client.get("/v1/customers/de/credits").json()
    assert D(credits["balance"]) == D("100.00")  # the credits are the price, not the total
