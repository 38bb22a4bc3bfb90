"""Automatic top-up through the HTTP API and the service on SQLite and PostgreSQL: coded
4xx for bad rules, GET/DELETE, the check when the rule is set and after a grant is voided,
the scheduled pass, and never a second top-up while one is unpaid (concurrent checks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.store.top_ups import TopUpStore
from tallybook.bootstrap import Container
from tallybook.domain.credits.top_up import TopUpRule
from tests.integration.test_customers_api import error

TOP_UP = "/v1/customers/a/credit-top-up"


def _customer(client: TestClient) -> None:
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201


def _purchases(client: TestClient) -> list[dict[str, Any]]:
    found = client.get("/v1/invoices?customer=a").json()["data"]
    return [i for i in found if i["kind"] == "credit_purchase"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"threshold": "-1.00", "target": "10.00"}, 422, "invalid_threshold"),
        ({"threshold": "1.001", "target": "10.00"}, 422, "invalid_threshold"),
        ({"threshold": "10.00", "target": "10.00"}, 422, "invalid_target"),
        ({"threshold": "10.00", "target": "5.00"}, 422, "invalid_target"),
        ({"threshold": "1.00", "target": "10.005"}, 422, "invalid_target"),
        ({"threshold": "abc", "target": "10.00"}, 422, "invalid_number"),
        ({"threshold": "1.00", "target": "1e30"}, 422, "invalid_number"),
        ({"threshold": "1.00"}, 422, "invalid_request"),
        ({"threshold": "1.00", "target": "5.00", "priority": 3}, 422, "invalid_request"),
    ],
)
def test_bad_rules_are_coded_4xx(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    _customer(client)
    assert error(client.put(TOP_UP, json=body)) == (status, code)
    assert error(client.get(TOP_UP)) == (404, "top_up_not_found")
    assert _purchases(client) == []


def test_rule_is_read_replaced_and_deleted(client: TestClient) -> None:
    _customer(client)
    assert error(client.get(TOP_UP)) == (404, "top_up_not_found")
    assert error(client.delete(TOP_UP)) == (404, "top_up_not_found")
    assert error(
        client.put("/v1/customers/nobody/credit-top-up", json={"threshold": "1", "target": "2"})
    ) == (
        404,
        "customer_not_found",
    )
    # no grants: available 0.00 <= 5.00, so setting the rule buys 50.00 at once
    first = client.put(TOP_UP, json={"threshold": "5.00", "target": "50.00"})
    assert first.status_code == 200, first.text
    bought = first.json()["top_up"]
    assert (bought["amount"], bought["category"], bought["source"]) == ("50.00", "paid", "top_up")
    assert [(i["total"], i["status"]) for i in _purchases(client)] == [("50.00", "finalized")]
    # replacing the rule keeps created_at; available 50.00 > 45.00: nothing more
    again = client.put(TOP_UP, json={"threshold": "45.00", "target": "60.00"})
    assert again.json()["top_up"] is None
    assert again.json()["created_at"] == first.json()["created_at"]
    got = client.get(TOP_UP).json()
    assert (got["threshold"], got["target"], got["currency"]) == ("45.00", "60.00", "USD")
    assert error(client.get(f"{TOP_UP}?x=1")) == (400, "unknown_parameter")
    assert client.delete(TOP_UP).json() == {"customer": "a", "deleted": True}
    assert error(client.get(TOP_UP)) == (404, "top_up_not_found")


def test_a_void_triggers_the_check_and_an_unpaid_top_up_blocks_the_next(
    client: TestClient, container: Container
) -> None:
    _customer(client)
    grant = {"id": "g", "amount": "40.00", "currency": "USD"}
    assert client.post("/v1/customers/a/credit-grants", json=grant).status_code == 201
    assert (
        client.put(TOP_UP, json={"threshold": "10.00", "target": "30.00"}).json()["top_up"] is None
    )
    # voiding the grant takes available to 0.00: a top-up of 30.00
    assert client.post("/v1/credit-grants/g/void").status_code == 200
    [purchase] = _purchases(client)
    assert purchase["total"] == "30.00"
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    assert [(e["type"], e["amount"], e["balance_after"]) for e in ledger] == [
        ("grant", "40.00", "40.00"),
        ("void", "-40.00", "0.00"),
        ("top_up", "30.00", "30.00"),
    ]
    top_up = ledger[-1]["grant"]
    # void the top-up grant too: available 0.00 again, but its invoice is unpaid: nothing
    assert client.post(f"/v1/credit-grants/{top_up}/void").status_code == 200
    assert container.top_ups.run_due() == 0
    assert len(_purchases(client)) == 1
    # voiding the purchase invoice unblocks: the check after it buys 30.00
    assert client.post(f"/v1/invoices/{purchase['id']}/void").status_code == 200
    assert sorted(i["total"] for i in _purchases(client) if i["status"] == "finalized") == ["30.00"]
    assert client.get("/v1/customers/a/credits").json()["balance"] == "30.00"


def test_concurrent_checks_buy_one_top_up(client: TestClient, container: Container) -> None:
    _customer(client)
    # a rule stored without its check (as if set before the balance fell): one top-up is due
    now = container.clock.now()
    rule = TopUpRule("a", "USD", Decimal("0.00"), Decimal("25.00"), now, now)
    TopUpStore(container.engine).put("default", rule)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: container.top_ups.check("default", "a"), range(8)))
    assert sum(r is not None for r in results) == 1
    assert [i["total"] for i in _purchases(client)] == ["25.00"]
    assert client.get("/v1/customers/a/credits").json()["balance"] == "25.00"


def test_a_failing_check_never_fails_the_change_that_triggered_it(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _customer(client)
    grant = {"id": "g", "amount": "40.00", "currency": "USD"}
    assert client.post("/v1/customers/a/credit-grants", json=grant).status_code == 201
    assert client.put(TOP_UP, json={"threshold": "1.00", "target": "5.00"}).status_code == 200

    def broken(tenant_id: str, customer_id: str) -> Decimal:
        raise RuntimeError("preview unavailable")

    monkeypatch.setattr(container.credits, "available", broken)
    assert client.post("/v1/credit-grants/g/void").status_code == 200  # the void stands
    assert _purchases(client) == []
    monkeypatch.undo()
    assert container.top_ups.run_due() == 1  # the scheduled pass catches up: 5.00
    assert [i["total"] for i in _purchases(client)] == ["5.00"]
