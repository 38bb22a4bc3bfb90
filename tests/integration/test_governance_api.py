"""Governed pricing through the HTTP API on both stores: the issue's "Done when"
scenarios (next_period, immediate, grandfather, rollback, roles, audit) and its bad input.

The tenant sells ``growth`` (calendar months, UTC): a $100.00 platform fee in arrears and
$0.10 per API call. Customers subscribe on 2026-03-01 and call the API 10 times on
March 5, March 20 and April 10. A change effective 2026-03-15 raises the fee to $150.00
and the call to $0.20.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.catalogs import GROWTH as CATALOG

MID_MARCH = "2026-03-15T00:00:00Z"


def _plan(fee: str, unit: str) -> dict[str, Any]:
    plan = dict(CATALOG["plans"][0])
    plan["charges"] = [
        {"key": "platform", "type": "flat", "amount": fee, "timing": "in_arrears"},
        {
            "key": "api",
            "type": "usage",
            "meter": "api_calls",
            "model": "per_unit",
            "unit_amount": unit,
        },
    ]
    return {"plans": [plan]}


def _key(client: TestClient, name: str, *roles: str) -> dict[str, str]:
    answer = client.post("/v1/keys", json={"name": name, "roles": list(roles)})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['key']}"}


@pytest.fixture
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    return {
        "editor": _key(client, "alice-editor", "pricing_editor"),
        "approver": _key(client, "bob-approver", "pricing_approver"),
        "approver2": _key(client, "carol-approver", "pricing_approver"),
        "billing": _key(client, "billing-job", "billing"),
    }


def _customer(client: TestClient, name: str) -> str:
    assert client.post("/v1/customers", json={"id": name, "currency": "USD"}).status_code == 201
    sub = client.post(
        "/v1/subscriptions",
        json={"customer": name, "plan": "growth", "start": "2026-03-01T00:00:00Z"},
    )
    assert sub.status_code == 201, sub.text
    events = [
        {"id": f"{name}-{day}-{i}", "customer": name, "type": "api_call", "timestamp": day}
        for day in ("2026-03-05T12:00:00Z", "2026-03-20T12:00:00Z", "2026-04-10T12:00:00Z")
        for i in range(10)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 30
    return str(sub.json()["id"])


def _propose(
    client: TestClient, headers: dict[str, str], *, status: int = 201, **fields: Any
) -> dict[str, Any]:
    body = {"document": _plan("150.00", "0.20"), "effective_at": MID_MARCH, **fields}
    answer = client.post("/v1/catalog/changes", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def _approve(client: TestClient, change: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.post(f"/v1/catalog/changes/{change}/approve", json={}, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _invoices(client: TestClient, customer: str) -> dict[str, dict[str, Any]]:
    run = client.post("/v1/billing-runs", json={"as_of": "2026-05-02T00:00:00Z"})
    assert run.status_code in (200, 201, 202), run.text
    listed = client.get("/v1/invoices", params={"customer": customer}).json()["data"]
    found = {}
    for item in listed:
        invoice = client.get(f"/v1/invoices/{item['id']}").json()
        found[invoice["period_start"][:7]] = invoice
    return found


def _lines(invoice: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((ln["charge"], ln["quantity"], ln["amount"]) for ln in invoice["lines"])


def test_next_period_bills_march_old_and_april_new(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"], reason="2026 repricing")
    assert change["status"] == "pending_approval" and change["author"] == "alice-editor"
    paths = {c["path"] for p in change["diff"]["plans"] for c in p["changes"]}
    assert paths == {"charges[platform].amount", "charges[api].unit_amount"}
    assert [c["name"] for c in change["checks"]] == ["validation"]
    assert change["impact"]["customers"] == 1
    approved = _approve(client, change["id"], keys["approver"])
    assert approved["status"] == "active"  # effective_at has passed
    assert approved["versions"]["growth"]["from"] == 1
    assert approved["versions"]["growth"]["to"] == 2
    assert approved["versions"]["growth"]["migrated"] == 1
    invoices = _invoices(client, "acme")
    assert Decimal(invoices["2026-03"]["total"]) == Decimal("102.00")
    assert Decimal(invoices["2026-04"]["total"]) == Decimal("152.00")


def test_immediate_splits_march(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"], timing="immediate")
    _approve(client, change["id"], keys["approver"])
    invoices = _invoices(client, "acme")
    march = invoices["2026-03"]
    usage = sorted(
        (ln["quantity"], ln["unit_amount"], ln["amount"])
        for ln in march["lines"]
        if ln["charge"] == "api"
    )
    assert usage == [("10", "0.10", "1.00"), ("10", "0.20", "2.00")]
    fees = sorted(Decimal(ln["amount"]) for ln in march["lines"] if ln["charge"] == "platform")
    # 14 of 31 days at $100, 17 of 31 at $150, each rounded once
    assert fees == [Decimal("45.16"), Decimal("82.26")]
    assert Decimal(march["total"]) == Decimal("130.42")
    assert Decimal(invoices["2026-04"]["total"]) == Decimal("152.00")


def test_grandfathered_subscriber_keeps_the_old_price(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "old")
    change = _propose(client, keys["editor"], existing="grandfather")
    approved = _approve(client, change["id"], keys["approver"])
    assert approved["versions"]["growth"]["migrated"] == 0
    invoices = _invoices(client, "old")
    assert Decimal(invoices["2026-03"]["total"]) == Decimal("102.00")
    assert Decimal(invoices["2026-04"]["total"]) == Decimal("101.00")
    client.post("/v1/customers", json={"id": "new", "currency": "USD"})
    sub = client.post("/v1/subscriptions", json={"customer": "new", "plan": "growth"}).json()
    assert client.get(f"/v1/subscriptions/{sub['id']}").json()["plan_version"] == 2


def test_a_scheduled_change_reaches_new_subscribers_on_schedule(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    change = _propose(client, keys["editor"], effective_at="2030-06-15T00:00:00Z")
    assert _approve(client, change["id"], keys["approver"])["status"] == "approved"
    client.post("/v1/customers", json={"id": "new", "currency": "USD"})
    sub = client.post(
        "/v1/subscriptions",
        json={"customer": "new", "plan": "growth", "start": "2030-05-10T00:00:00Z"},
    ).json()
    phases = [(p["version"], p["start"]) for p in sub["phases"]]
    assert phases == [(1, "2030-05-10T00:00:00Z"), (2, "2030-07-01T00:00:00Z")]
    assert sub["plan_version"] == 2  # the version of the latest phase


def test_a_rolled_back_change_never_reaches_an_invoice(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"])
    _approve(client, change["id"], keys["approver"])
    rollback = client.post(
        "/v1/plans/growth/rollback",
        json={"to_version": 1, "effective_at": MID_MARCH, "reason": "customers complained"},
        headers=keys["editor"],
    )
    assert rollback.status_code == 201, rollback.text
    assert rollback.json()["kind"] == "rollback"
    back = _approve(client, rollback.json()["id"], keys["approver"])
    assert back["versions"]["growth"] == {"from": 2, "to": 3, "migrated": 1, "skipped": []}
    assert client.get(f"/v1/catalog/changes/{change['id']}").json()["status"] == "superseded"
    invoices = _invoices(client, "acme")
    assert Decimal(invoices["2026-03"]["total"]) == Decimal("102.00")
    assert Decimal(invoices["2026-04"]["total"]) == Decimal("101.00")
    assert all(ln["unit_amount"] != "0.20" for inv in invoices.values() for ln in inv["lines"])


def test_an_earlier_rollback_cancels_a_scheduled_change(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"], effective_at="2026-06-15T00:00:00Z")
    _approve(client, change["id"], keys["approver"])
    rollback = client.post(
        "/v1/plans/growth/rollback",
        json={"to_version": 1, "effective_at": "2026-05-01T00:00:00Z"},
        headers=keys["editor"],
    ).json()
    _approve(client, rollback["id"], keys["approver"])
    assert client.get(f"/v1/catalog/changes/{change['id']}").json()["status"] == "superseded"
    run = client.post("/v1/billing-runs", json={"as_of": "2026-08-02T00:00:00Z"})
    assert run.status_code in (200, 201, 202)
    listed = client.get("/v1/invoices", params={"customer": "acme"}).json()["data"]
    fees = {
        line["amount"]
        for item in listed
        for line in client.get(f"/v1/invoices/{item['id']}").json()["lines"]
        if line["charge"] == "platform"
    }
    assert fees == {"100.00"}  # March to July: the $150 fee never billed


def test_impact_rerates_the_last_closed_period(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    for name in ("a", "b"):
        _customer(client, name)
    client.post("/v1/billing-runs", json={"as_of": "2026-05-02T00:00:00Z"})
    # effective after the billed periods; the last closed period is the newest month
    change = _propose(client, keys["editor"], effective_at="2026-12-31T00:00:00Z")
    impact = change["impact"]
    assert impact["customers"] == 2 and impact["currency"] == "USD"
    # each: the last closed month (no usage after April) at $100 vs $150
    last = Decimal(impact["billed"]) / 2
    assert last == Decimal("100.00")
    assert Decimal(impact["would_bill"]) == Decimal("300.00")
    assert Decimal(impact["delta"]) == Decimal("100.00")


def test_bad_input_and_decisions(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    change = _propose(client, keys["editor"])
    own = client.post(f"/v1/catalog/changes/{change['id']}/approve", headers=keys["editor"])
    assert own.status_code == 403  # an editor cannot approve at all
    both = _key(client, "dave", "pricing_editor", "pricing_approver")
    mine = _propose(client, both, effective_at="2026-06-01T00:00:00Z")
    self_approval = client.post(f"/v1/catalog/changes/{mine['id']}/approve", headers=both)
    assert self_approval.status_code == 403
    assert self_approval.json()["error"]["code"] == "approval_self_forbidden"
    rejected = client.post(
        f"/v1/catalog/changes/{mine['id']}/reject", json={"reason": "no"}, headers=keys["approver"]
    )
    assert rejected.json()["status"] == "rejected"
    again = client.post(f"/v1/catalog/changes/{mine['id']}/approve", headers=keys["approver"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "change_not_pending")
    _approve(client, change["id"], keys["approver"])
    twice = client.post(f"/v1/catalog/changes/{change['id']}/approve", headers=keys["approver2"])
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "change_not_pending")
    same = _propose(client, keys["editor"], status=422)
    assert same["error"]["code"] == "change_empty"
    bad = client.post(
        "/v1/catalog/changes",
        json={"document": {"plans": [{"key": "x"}]}, "effective_at": MID_MARCH},
        headers=keys["editor"],
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_catalog")
    for body in (
        {"document": {}, "effective_at": "soon"},
        {"document": {}, "effective_at": MID_MARCH, "timing": "later"},
        {"document": {}, "effective_at": MID_MARCH, "colour": 1},
    ):
        answer = client.post("/v1/catalog/changes", json=body, headers=keys["editor"])
        assert answer.status_code == 422, body
    missing = client.post("/v1/catalog/changes/chg_nope/approve", headers=keys["approver"])
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "change_not_found")


def test_effective_at_inside_a_finalized_period_is_refused(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    client.post("/v1/billing-runs", json={"as_of": "2026-04-02T00:00:00Z"})  # March final
    refused = _propose(client, keys["editor"], status=409)
    assert refused["error"]["code"] == "effective_in_billed_period"
    ok = _propose(client, keys["editor"], effective_at="2026-04-01T00:00:00Z")
    assert ok["status"] == "pending_approval"
    # grandfathering touches no existing subscription: nothing billed is affected
    assert _propose(client, keys["editor"], existing="grandfather")["status"] == (
        "pending_approval"
    )


def test_a_client_id_makes_proposals_repeatable(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    first = _propose(client, keys["editor"], id="q3-repricing", reason="q3")
    again = _propose(client, keys["editor"], id="q3-repricing", reason="q3")
    assert again["id"] == first["id"] == "q3-repricing"
    other = _propose(client, keys["editor"], status=409, id="q3-repricing", reason="other")
    assert other["error"]["code"] == "conflict"
    listed = client.get("/v1/catalog/changes", params={"status": "pending_approval"}).json()
    assert [c["id"] for c in listed["data"]] == ["q3-repricing"]


def test_effective_at_is_checked_again_at_approval(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"])  # nothing billed yet: accepted
    client.post("/v1/billing-runs", json={"as_of": "2026-04-02T00:00:00Z"})  # March final
    late = client.post(f"/v1/catalog/changes/{change['id']}/approve", headers=keys["approver"])
    assert (late.status_code, late.json()["error"]["code"]) == (409, "effective_in_billed_period")
    assert client.get(f"/v1/catalog/changes/{change['id']}").json()["status"] == (
        "pending_approval"
    )
    assert [v["version"] for v in client.get("/v1/plans/growth/versions").json()["data"]] == [1]


def test_racing_approvers_exactly_one_wins(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    _customer(client, "acme")
    change = _propose(client, keys["editor"])
    answers: list[int] = []

    def approve(headers: dict[str, str]) -> None:
        answer = client.post(f"/v1/catalog/changes/{change['id']}/approve", headers=headers)
        answers.append(answer.status_code)

    racers = [
        threading.Thread(target=approve, args=(keys[name],))
        for name in ("approver", "approver2", "approver", "approver2")
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(answers) == [200, 409, 409, 409]
    versions = client.get("/v1/plans/growth/versions").json()["data"]
    assert [v["version"] for v in versions] == [1, 2]


def test_require_approval_refuses_direct_price_edits(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    settings = client.patch(
        "/v1/tenant",
        json={"require_approval": True, "guard_rails": {"max_increase_pct": "20"}},
    )
    assert settings.status_code == 200, settings.text
    assert settings.json()["require_approval"] is True
    direct = client.put("/v1/catalog", json=_plan("150.00", "0.20"))
    assert (direct.status_code, direct.json()["error"]["code"]) == (409, "approval_required")
    renamed = _plan("100.00", "0.10")
    renamed["plans"][0]["name"] = "Growth 2026"
    assert client.put("/v1/catalog", json=renamed).status_code == 200  # no price moved
    change = _propose(client, keys["editor"], effective_at="2027-06-01T00:00:00Z")
    rail = next(c for c in change["checks"] if c["name"] == "max_increase_pct")
    assert rail["ok"] is False and len(rail["details"]["moves"]) == 2
    refused = client.post(f"/v1/catalog/changes/{change['id']}/approve", headers=keys["approver"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "checks_failed")


def test_the_audit_chain_holds_the_whole_workflow(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    change = _propose(client, keys["editor"], reason="why not")
    _approve(client, change["id"], keys["approver"])
    entries = client.get("/v1/audit", params={"object": f"catalog/changes/{change['id']}"})
    actions = [(e["actor"], e["action"], e["reason"]) for e in entries.json()["data"]]
    assert actions == [
        ("alice-editor", "POST /v1/catalog/changes", "why not"),
        ("bob-approver", "POST /v1/catalog/changes/{change_id}/approve", None),
    ]
    approval = entries.json()["data"][1]
    assert approval["before"]["status"] == "pending_approval"
    assert approval["after"]["status"] == "active"
    assert client.get("/v1/audit/verify").json()["ok"] is True
