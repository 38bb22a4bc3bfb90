"""Price overrides through the HTTP API on both stores: a 0.9 multiplier follows a list
change while an overwrite does not; subscription beats customer beats plan; conflicts
and charges the plan lacks are refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_governance_api import (
    CATALOG,
    MID_MARCH,
    _approve,
    _customer,
    _invoices,
    _key,
    _plan,
)


@pytest.fixture
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    return {
        "editor": _key(client, "alice-editor", "pricing_editor"),
        "approver": _key(client, "bob-approver", "pricing_approver"),
        "billing": _key(client, "billing-job", "billing"),
    }


def _override(
    client: TestClient, path: str, headers: dict[str, str], status: int = 201, **body: Any
) -> dict[str, Any]:
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def _api_lines(invoice: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (ln["quantity"], ln["unit_amount"], ln["amount"])
        for ln in invoice["lines"]
        if ln["charge"] == "api"
    ]


def test_multiplier_follows_a_list_change_and_overwrite_does_not(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    multiplied = _customer(client, "mult")
    overwritten = _customer(client, "over")
    start = "2026-03-01T00:00:00Z"
    made = _override(
        client,
        f"/v1/subscriptions/{multiplied}/overrides",
        keys["billing"],
        charge="api",
        kind="multiplier",
        multiplier="0.9",
        **{"from": start},
    )
    assert made["level"] == "subscription" and made["multiplier"] == "0.9"
    _override(
        client,
        f"/v1/subscriptions/{overwritten}/overrides",
        keys["billing"],
        charge="api",
        kind="overwrite",
        unit_amount="0.05",
        **{"from": start},
    )
    change = client.post(
        "/v1/catalog/changes",
        json={"document": _plan("100.00", "0.20"), "effective_at": MID_MARCH},
        headers=keys["editor"],
    ).json()
    _approve(client, change["id"], keys["approver"])
    mult = _invoices(client, "mult")
    over = _invoices(client, "over")
    # March at the old list price 0.10: x 0.9 = 0.09; April at 0.20: x 0.9 = 0.18
    assert _api_lines(mult["2026-03"]) == [("20", "0.09", "1.80")]
    assert _api_lines(mult["2026-04"]) == [("10", "0.18", "1.80")]
    # the overwrite keeps 0.05 whatever the list price
    assert _api_lines(over["2026-03"]) == [("20", "0.05", "1.00")]
    assert _api_lines(over["2026-04"]) == [("10", "0.05", "0.50")]
    assert Decimal(over["2026-04"]["total"]) == Decimal("100.50")


def test_subscription_beats_customer_beats_plan(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    sub = _customer(client, "acme")
    base = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    _override(
        client,
        "/v1/customers/acme/overrides",
        keys["billing"],
        charge="api",
        kind="multiplier",
        multiplier="0.5",
        **{"from": "2026-03-01T00:00:00Z"},
    )
    _override(
        client,
        f"/v1/subscriptions/{sub}/overrides",
        keys["billing"],
        charge="api",
        kind="overwrite",
        unit_amount="0.07",
        **base,
    )
    listed = client.get(f"/v1/subscriptions/{sub}/overrides").json()["data"]
    assert sorted(o["level"] for o in listed) == ["customer", "subscription"]
    invoices = _invoices(client, "acme")
    assert _api_lines(invoices["2026-03"]) == [("20", "0.07", "1.40")]  # subscription's
    assert _api_lines(invoices["2026-04"]) == [("10", "0.05", "0.50")]  # customer's
    assert client.get("/v1/customers/acme/overrides").json()["data"][0]["multiplier"] == "0.5"


def test_a_later_subscription_inherits_the_customer_override(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    first = _customer(client, "acme")
    _override(
        client,
        "/v1/customers/acme/overrides",
        keys["billing"],
        charge="platform",
        kind="overwrite",
        amount="80.00",
        **{"from": "2026-03-01T00:00:00Z"},
    )
    canceled = client.post(
        f"/v1/subscriptions/{first}/cancel",
        json={"at": "2026-04-01T00:00:00Z", "mode": "immediately"},
    )
    assert canceled.status_code == 200, canceled.text
    later = client.post(
        "/v1/subscriptions",
        json={"customer": "acme", "plan": "growth", "start": "2026-04-01T00:00:00Z"},
    ).json()["id"]
    listed = client.get(f"/v1/subscriptions/{later}/overrides").json()["data"]
    assert [(o["level"], o["amount"]) for o in listed] == [("customer", "80.00")]
    invoices = _invoices(client, "acme")
    fees = [
        ln["amount"]
        for inv in invoices.values()
        for ln in inv["lines"]
        if ln["charge"] == "platform"
    ]
    assert fees and set(fees) == {"80.00"}


def test_conflicts_and_bad_overrides_are_refused(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    sub = _customer(client, "acme")
    path = f"/v1/subscriptions/{sub}/overrides"
    headers = keys["billing"]
    first = {"charge": "api", "kind": "multiplier", "multiplier": "0.9"}
    _override(client, path, headers, **first, **{"from": "2026-03-01T00:00:00Z"})
    clash = _override(client, path, headers, 409, **first, **{"from": "2026-06-01T00:00:00Z"})
    assert clash["error"]["code"] == "override_overlap"
    lacking = _override(
        client, path, headers, 422, charge="seats", kind="multiplier", multiplier="1"
    )
    assert lacking["error"]["code"] == "charge_not_in_plan"
    bad_field = _override(client, path, headers, 422, charge="api", kind="overwrite", amount="5")
    assert bad_field["error"]["code"] == "invalid_override"
    negative = _override(
        client, path, headers, 422, charge="platform", kind="overwrite", amount="-5"
    )
    assert negative["error"]["code"] == "invalid_override"
    no_factor = _override(client, path, headers, 422, charge="api", kind="multiplier")
    assert no_factor["error"]["code"] == "invalid_override"
    customer = _override(
        client,
        "/v1/customers/nobody/overrides",
        headers,
        404,
        charge="api",
        kind="multiplier",
        multiplier="1",
    )
    assert customer["error"]["code"] == "customer_not_found"
    viewer = _key(client, "viewer", "viewer")
    denied = client.post(path, json=first, headers=viewer)
    assert denied.status_code == 403
    # billing March finalizes it: an override starting inside March is refused
    client.post("/v1/billing-runs", json={"as_of": "2026-04-02T00:00:00Z"})
    late = _override(
        client,
        f"/v1/subscriptions/{sub}/overrides",
        headers,
        409,
        charge="platform",
        kind="overwrite",
        amount="90.00",
        **{"from": "2026-03-10T00:00:00Z"},
    )
    assert late["error"]["code"] == "period_finalized"
    ended = client.delete(f"{path}/{clash['error']['details']['override']}", headers=headers)
    assert ended.status_code == 200 and ended.json()["to"] is not None
