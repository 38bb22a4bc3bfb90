"""Issue 16 "Done when", taxes: four customers through the HTTP API on both stores, each
invoice worked out by hand (docs/invoicing-for-finance.md shows the same sums).

- ``de``: Germany, 19 % exclusive VAT (``de_vat``); its e-book charge names the 7 % rate
  (a charge's rates win); a 10.00 EUR credit pays usage first, tax comes after.
- ``uk``: United Kingdom, 20 % inclusive VAT: the tax is inside the amounts.
- ``fr``: an EU business under reverse charge: no tax, a note on the invoice.
- ``us``: no tax rates: no tax.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error

D = Decimal


def _plan(key: str, currency: str, ebook_rates: list[str] | None = None) -> dict[str, Any]:
    ebook: dict[str, Any] = {"key": "ebook", "type": "flat", "amount": "10.00"}
    if ebook_rates:
        ebook["tax_rates"] = ebook_rates
    return {
        "key": key,
        "name": key,
        "currency": currency,
        "interval": "month",
        "billing_anchor": "calendar",
        "charges": [
            {"key": "base", "type": "flat", "amount": "99.00"},
            ebook,
            {
                "key": "calls",
                "type": "usage",
                "meter": "calls",
                "model": "per_unit",
                "unit_amount": "0.35",
            },
        ],
    }


CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        _plan("eu", "EUR", ["de_vat_reduced"]),
        _plan("uk", "GBP"),
        _plan("us", "USD"),
    ],
}
RATES = [
    {"id": "de_vat", "name": "DE VAT", "percentage": "19", "country": "DE"},
    {"id": "de_vat_reduced", "name": "DE VAT reduced", "percentage": "7", "country": "DE"},
    {"id": "uk_vat", "name": "UK VAT", "percentage": "20", "inclusive": True, "country": "GB"},
]
CUSTOMERS = [
    ("de", "EUR", "eu", {"tax_rates": ["de_vat"], "legal_name": "Müller GmbH"}),
    ("uk", "GBP", "uk", {"tax_rates": ["uk_vat"]}),
    ("fr", "EUR", "eu", {"tax_rates": ["de_vat"], "tax_exempt": "reverse_charge"}),
    ("us", "USD", "us", {}),
]


def _setup(client: TestClient) -> None:
    assert client.patch("/v1/tenant", json={"grace_seconds": 0}).status_code == 200
    seller = {
        "legal_name": "Tallybook Demo GmbH",
        "address": {
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "de",
        },
        "tax_id": "DE123456789",
        "email": "billing@tallybook.test",
        "footer": "Bank: DE89 3704 0044 0532 0130 00",
    }
    answer = client.patch("/v1/tenant", json={"seller": seller})
    assert answer.status_code == 200, answer.text
    assert answer.json()["seller"]["address"]["country"] == "DE"
    for rate in RATES:
        assert client.post("/v1/tax-rates", json=rate).status_code == 201
    put = client.put("/v1/catalog", json=CATALOG)
    assert put.status_code == 200, put.text
    for customer, currency, plan, details in CUSTOMERS:
        body = {"id": customer, "currency": currency}
        assert client.post("/v1/customers", json=body).status_code == 201
        patched = client.patch(f"/v1/customers/{customer}", json=details)
        assert patched.status_code == 200, patched.text
        sub = {"customer": customer, "plan": plan, "start": "2026-01-01T00:00:00Z"}
        assert client.post("/v1/subscriptions", json=sub).status_code == 201
        events = [
            {
                "id": f"{customer}{n}",
                "customer": customer,
                "type": "call",
                "timestamp": "2026-01-10T00:00:00Z",
            }
            for n in range(100)
        ]
        assert client.post("/v1/events", json=events).json()["accepted"] == 100
    grant = {
        "id": "g1",
        "amount": "10.00",
        "currency": "EUR",
        "effective_at": "2026-01-01T00:00:00Z",
    }
    assert client.post("/v1/customers/de/credit-grants", json=grant).status_code == 201
    run = client.post("/v1/billing-runs", json={"as_of": "2026-02-01T00:30:00Z"})
    assert run.status_code == 200, run.text


def _usage_invoice(client: TestClient, customer: str) -> dict[str, Any]:
    """The invoice issued 2026-02-01: January's usage and February's fees."""
    found = client.get("/v1/invoices", params={"customer": customer}).json()["data"]
    issued = [i for i in found if i["issue_at"] == "2026-02-01T00:00:00Z"]
    assert len(issued) == 1, found
    invoice: dict[str, Any] = issued[0]
    assert invoice["status"] == "finalized"
    return invoice


def _line(invoice: dict[str, Any], charge: str) -> dict[str, Any]:
    found = [li for li in invoice["lines"] if li["charge"] == charge]
    assert len(found) == 1, invoice["lines"]
    return found[0]


def _totals(invoice: dict[str, Any]) -> tuple[Decimal, ...]:
    keys = ("subtotal", "credits_applied", "tax_total", "total")
    return tuple(D(invoice[k]) for k in keys)


def test_four_customers_total_as_worked_by_hand(client: TestClient) -> None:
    _setup(client)

    de = _usage_invoice(client, "de")
    # usage 100 x 0.35 = 35.00, credit 10.00 first: base 25.00 x 19 % = 4.75
    assert _line(de, "calls")["credited"] == "10.00"
    assert _line(de, "calls")["tax_amount"] == "4.75"
    assert _line(de, "base")["tax_amount"] == "18.81"  # 99.00 x 19 %
    ebook = _line(de, "ebook")  # the charge's 7 % wins over the customer's 19 %
    assert ebook["tax_amount"] == "0.70"
    assert [t["rate"] for t in ebook["taxes"]] == ["de_vat_reduced"]
    # 144.00 - 10.00 credits + 24.26 exclusive tax
    assert _totals(de) == (D("144.00"), D("10.00"), D("24.26"), D("158.26"))
    summary = {t["rate"]: (t["taxable_amount"], t["amount"]) for t in de["taxes"]}
    assert summary == {"de_vat": ("124.00", "23.56"), "de_vat_reduced": ("10.00", "0.70")}
    assert de["tax_note"] is None
    assert de["parties"]["seller"]["legal_name"] == "Tallybook Demo GmbH"
    assert de["parties"]["buyer"]["legal_name"] == "Müller GmbH"

    uk = _usage_invoice(client, "uk")
    # inclusive: 99.00 x 20/120 = 16.50; 10.00 x 20/120 = 1.67; 35.00 x 20/120 = 5.83
    assert [_line(uk, c)["tax_amount"] for c in ("base", "ebook", "calls")] == [
        "16.50",
        "1.67",
        "5.83",
    ]
    assert _totals(uk) == (D("144.00"), D("0.00"), D("24.00"), D("144.00"))

    fr = _usage_invoice(client, "fr")
    assert _totals(fr) == (D("144.00"), D("0.00"), D("0.00"), D("144.00"))
    assert all(li["tax_amount"] is None for li in fr["lines"])
    assert "Reverse charge" in fr["tax_note"]

    us = _usage_invoice(client, "us")
    assert _totals(us) == (D("144.00"), D("0.00"), D("0.00"), D("144.00"))
    assert us["taxes"] == [] and us["tax_note"] is None


def test_the_snapshot_does_not_change_when_the_parties_do(client: TestClient) -> None:
    _setup(client)
    before = _usage_invoice(client, "de")
    assert client.patch("/v1/customers/de", json={"legal_name": "Neu AG"}).status_code == 200
    assert client.patch("/v1/tenant", json={"seller": None}).status_code == 200
    after = _usage_invoice(client, "de")
    assert after["parties"] == before["parties"]
    assert client.get("/v1/customers/de").json()["legal_name"] == "Neu AG"
    assert client.get("/v1/tenant").json()["seller"]["legal_name"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "percentage": "100.01"}, "invalid_percentage"),
        ({"name": "x", "percentage": "-1"}, "invalid_percentage"),
        ({"name": "x", "percentage": "19.00001"}, "invalid_percentage"),
        ({"name": "x", "percentage": "abc"}, "invalid_number"),
        ({"name": "x", "percentage": "19", "country": "D1"}, "invalid_country"),
        ({"name": "\u0000", "percentage": "19"}, "invalid_name"),
    ],
)
def test_bad_tax_rates_are_coded_4xx(client: TestClient, body: dict[str, Any], code: str) -> None:
    assert error(client.post("/v1/tax-rates", json=body)) == (422, code)
    assert client.get("/v1/tax-rates").json()["data"] == []


def test_tax_rates_are_idempotent_and_immutable(client: TestClient) -> None:
    body = {"id": "de_vat", "name": "DE VAT", "percentage": "19", "country": "DE"}
    assert client.post("/v1/tax-rates", json=body).status_code == 201
    assert client.post("/v1/tax-rates", json=body).status_code == 200
    changed = {**body, "percentage": "16"}
    assert error(client.post("/v1/tax-rates", json=changed)) == (409, "conflict")
    got = client.get("/v1/tax-rates/de_vat").json()
    assert got["percentage"] == "19" and got["inclusive"] is False
    assert error(client.get("/v1/tax-rates/nope")) == (404, "tax_rate_not_found")
    assert error(client.get("/v1/tax-rates", params={"limit": 0})) == (422, "invalid_limit")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"billing_emails": ["not an address"]}, "invalid_email"),
        ({"billing_emails": ["a@b.test"] * 11}, "invalid_request"),
        ({"tax_rates": ["nope"]}, "unknown_tax_rate"),
        ({"tax_exempt": "sometimes"}, "invalid_tax_exempt"),
        ({"address": {"country": "Germany"}}, "invalid_address"),
        ({"address": {"planet": "Mars"}}, "invalid_address"),
        ({"locale": "xx_YY_ZZ"}, "invalid_locale"),
        ({"legal_name": "a\nb"}, "invalid_text"),
    ],
)
def test_bad_buyer_details_are_coded_4xx(
    client: TestClient, body: dict[str, Any], code: str
) -> None:
    assert client.post("/v1/customers", json={"id": "c", "currency": "EUR"}).status_code == 201
    status, got = error(client.patch("/v1/customers/c", json=body))
    assert (status, got) == (422, code)
    assert client.get("/v1/customers/c").json()["billing_emails"] == []


@pytest.mark.parametrize(
    ("seller", "code"),
    [
        ({"email": "nobody"}, "invalid_email"),
        ({"logo_url": "javascript:alert(1)"}, "invalid_logo_url"),
        ({"legal_name": ""}, "invalid_text"),
        ({"footer": "x" * 1001}, "invalid_request"),
        ({"bank": "x"}, "invalid_request"),
    ],
)
def test_bad_seller_profiles_are_coded_4xx(
    client: TestClient, seller: dict[str, Any], code: str
) -> None:
    assert error(client.patch("/v1/tenant", json={"seller": seller})) == (422, code)
    assert client.get("/v1/tenant").json()["seller"]["legal_name"] is None
