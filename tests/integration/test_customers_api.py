"""/v1/customers and /v1/subscriptions through the ASGI app: shapes and coded 4xx."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "monthly",
            "name": "Monthly",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "seats", "type": "flat", "unit_amount": "10.00", "quantity_key": "seats"},
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "1",
                },
            ],
        },
        {
            "key": "yearly",
            "name": "Yearly",
            "currency": "USD",
            "interval": "year",
            "charges": [{"key": "base", "type": "flat", "amount": "100.00"}],
        },
        {
            "key": "euro",
            "name": "Euro",
            "currency": "EUR",
            "interval": "month",
            "charges": [{"key": "base", "type": "flat", "amount": "100.00"}],
        },
    ],
}


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_customers_are_created_read_and_listed(client: TestClient) -> None:
    created = client.post(
        "/v1/customers",
        json={
            "id": "acme",
            "name": "Acme",
            "email": "a@acme.test",
            "currency": "usd",
            "timezone": "Europe/Paris",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body | {"created_at": None} == {
        "id": "acme",
        "name": "Acme",
        "email": "a@acme.test",
        "currency": "USD",
        "timezone": "Europe/Paris",
        "parent": None,
        "created_at": None,
        "archived_at": None,
        "legal_name": None,
        "address": None,
        "tax_id": None,
        "billing_emails": [],
        "locale": None,
        "tax_rates": [],
        "tax_exempt": "none",
    }
    assert body["created_at"].endswith("Z")
    assert (
        client.post(
            "/v1/customers", json={"id": "acme-eu", "currency": "USD", "parent": "acme"}
        ).status_code
        == 201
    )
    assert client.get("/v1/customers/acme").json()["timezone"] == "Europe/Paris"
    page = client.get("/v1/customers", params={"limit": 1}).json()
    assert [c["id"] for c in page["data"]] == ["acme"] and page["next_cursor"]
    rest = client.get("/v1/customers", params={"cursor": page["next_cursor"]}).json()
    assert [c["id"] for c in rest["data"]] == ["acme-eu"] and rest["next_cursor"] is None
    children = client.get("/v1/customers", params={"parent": "acme"}).json()
    assert [c["id"] for c in children["data"]] == ["acme-eu"]


def test_bad_customers_get_coded_errors(client: TestClient) -> None:
    client.post("/v1/customers", json={"id": "dup", "currency": "USD"})
    cases = [
        ({"id": "dup", "currency": "USD"}, (409, "customer_exists")),
        ({"id": "x", "currency": "USD", "timezone": "Mars/Olympus"}, (422, "invalid_timezone")),
        ({"id": "x", "currency": "XYZ"}, (422, "unknown_currency")),
        ({"id": "x"}, (422, "invalid_request")),
        ({"id": "x", "currency": "USD", "colour": "red"}, (422, "invalid_request")),
        ({"id": "x" * 256, "currency": "USD"}, (422, "invalid_request")),
        ({"id": "bad\nid", "currency": "USD"}, (422, "invalid_id")),
        ({"id": "x", "currency": "USD", "email": "a\u0000b"}, (422, "invalid_email")),
        ({"id": "x", "currency": "USD", "parent": "nobody"}, (404, "customer_not_found")),
        ({"id": "x", "currency": "USD", "parent": "x"}, (422, "invalid_parent")),
    ]
    for body, expected in cases:
        assert error(client.post("/v1/customers", json=body)) == expected, body
    assert error(client.get("/v1/customers/nobody")) == (404, "customer_not_found")
    assert error(client.get("/v1/customers", params={"limit": 0})) == (422, "invalid_limit")
    assert (
        client.post(
            "/v1/customers", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_subscriptions_validate_against_the_catalog(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    client.post("/v1/customers", json={"id": "c1", "currency": "USD"})
    base = {"customer": "c1", "plan": "monthly", "start": "2026-01-01T00:00:00Z"}
    cases = [
        ({**base, "customer": "nobody"}, (404, "customer_not_found")),
        ({**base, "plan": "nothing"}, (404, "plan_not_found")),
        ({**base, "plan": "euro"}, (422, "currency_mismatch")),
        ({**base, "start": "yesterday"}, (422, "invalid_instant")),
        ({**base, "start": "2026-01-01T00:00:00"}, (422, "invalid_instant")),
        ({**base, "quantities": {"desks": 3}}, (422, "unknown_quantity_key")),
        ({**base, "quantities": {"seats": -1}}, (422, "invalid_quantity")),
        ({**base, "quantities": {"seats": "many"}}, (422, "invalid_number")),
        ({**base, "trial_days": -1}, (422, "invalid_request")),
        ({**base, "discounts": [{"type": "percent"}]}, (422, "invalid_discount")),
        ({**base, "discounts": [{"type": "fixed", "amount": "0.001"}]}, (422, "invalid_discount")),
    ]
    for body, expected in cases:
        assert error(client.post("/v1/subscriptions", json=body)) == expected, body
    created = client.post("/v1/subscriptions", json={**base, "quantities": {"seats": 3}})
    assert created.status_code == 201, created.text
    sub = created.json()
    assert (sub["plan"], sub["plan_version"], sub["quantities"]) == ("monthly", 1, {"seats": "3"})
    sid = sub["id"]
    assert error(client.post("/v1/subscriptions", json=base)) == (409, "subscription_exists")
    assert error(client.get("/v1/subscriptions/sub_nothing")) == (404, "subscription_not_found")
    change = f"/v1/subscriptions/{sid}/change"
    assert error(client.post(change, json={"plan": "euro", "at": "2026-02-10T00:00:00Z"})) == (
        422,
        "currency_mismatch",
    )
    assert error(
        client.post(change, json={"plan": "monthly", "allowance_policy": "sometimes"})
    ) == (422, "invalid_request")
    cancel = f"/v1/subscriptions/{sid}/cancel"
    assert error(client.post(cancel, json={"mode": "later"})) == (422, "invalid_request")
    quantities = f"/v1/subscriptions/{sid}/quantities"
    assert (
        client.post(
            quantities, json={"quantities": {"seats": 4}, "at": "2026-02-10T00:00:00Z"}
        ).status_code
        == 200
    )
    listed = client.get("/v1/subscriptions", params={"customer": "c1"}).json()["data"]
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["quantity_changes"][-1]["quantities"] == {"seats": "4"}
