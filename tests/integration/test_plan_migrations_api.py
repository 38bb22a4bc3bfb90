"""Bulk migration of subscribers between plan versions, previewed per customer first."""

from __future__ import annotations

from decimal import Decimal

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


def test_preview_per_customer_then_migrate(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    editor = _key(client, "alice-editor", "pricing_editor")
    approver = _key(client, "bob-approver", "pricing_approver")
    for name in ("a", "b"):
        _customer(client, name)
    body = {
        "document": _plan("150.00", "0.20"),
        "effective_at": MID_MARCH,
        "existing": "grandfather",
    }
    change = client.post("/v1/catalog/changes", json=body, headers=editor).json()
    _approve(client, change["id"], approver)
    request = {"from_version": 1, "to_version": 2, "effective_at": "2026-04-01T00:00:00Z"}
    preview = client.post("/v1/plans/growth/migrations", json=request, headers=editor)
    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert answer["dry_run"] is True and answer["subscriptions"] == 2 and answer["migrated"] == 0
    rows = answer["preview"]["per_customer"]
    assert [r["customer"] for r in rows] == ["a", "b"]
    # the last 3 closed months have no usage: 3 x $100 billed, 3 x $150 on version 2
    assert {(r["periods"], r["billed"], r["would_bill"], r["delta"]) for r in rows} == {
        (3, "300.00", "450.00", "150.00")
    }
    only_a = client.post(
        "/v1/plans/growth/migrations",
        json={**request, "customers": ["a"], "dry_run": False, "reason": "move a first"},
        headers=editor,
    ).json()
    assert only_a["migrated"] == 1 and only_a["skipped"] == []
    invoices_a = _invoices(client, "a")
    assert Decimal(invoices_a["2026-03"]["total"]) == Decimal("102.00")
    assert Decimal(invoices_a["2026-04"]["total"]) == Decimal("152.00")
    invoices_b = _invoices(client, "b")
    assert Decimal(invoices_b["2026-04"]["total"]) == Decimal("101.00")  # not moved
    audit = client.get("/v1/audit", params={"object": "plans/growth/migrations"}).json()
    assert [e["reason"] for e in audit["data"]] == [None, "move a first"]


def test_migration_bad_input_and_approval_gate(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    _customer(client, "a")
    same = client.post("/v1/plans/growth/migrations", json={"from_version": 1, "to_version": 1})
    assert same.json()["error"]["code"] == "invalid_versions"
    missing = client.post("/v1/plans/growth/migrations", json={"from_version": 1, "to_version": 9})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "plan_version_not_found")
    assert client.put("/v1/catalog", json=_plan("150.00", "0.20")).status_code == 200
    client.patch("/v1/tenant", json={"require_approval": True})
    run = {"from_version": 1, "to_version": 2, "dry_run": False}
    refused = client.post("/v1/plans/growth/migrations", json=run)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "approval_required")
    assert client.post("/v1/plans/growth/migrations", json={**run, "dry_run": True}).is_success
