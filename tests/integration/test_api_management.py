"""Issue 17 item 13: PATCH customers, archiving customers and plans, list filters and API
keys over HTTP and the CLI (both stores)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.cli import app as cli
from tallybook.cli import console as cli_console
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.integration.test_customers_api import CATALOG, error


def _subscribe(client: TestClient, customer: str, plan: str = "monthly") -> str:
    response = client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": plan, "start": "2026-01-01T00:00:00Z"},
    )
    assert response.status_code == 201, response.text
    sub_id: str = response.json()["id"]
    return sub_id


# -- PATCH /v1/customers/{id} ------------------------------------------------------------


def test_patch_changes_mutable_fields_and_refuses_the_rest(client: TestClient) -> None:
    client.post(
        "/v1/customers",
        json={"id": "acme", "currency": "USD", "name": "Acme", "email": "a@acme.test"},
    )
    changed = client.patch(
        "/v1/customers/acme", json={"name": "Acme Inc", "timezone": "America/New_York"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["email"], body["timezone"]) == (
        "Acme Inc",
        "a@acme.test",
        "America/New_York",
    )
    cleared = client.patch("/v1/customers/acme", json={"email": None}).json()
    assert cleared["email"] is None and cleared["name"] == "Acme Inc"
    assert client.get("/v1/customers/acme").json()["timezone"] == "America/New_York"
    cases = [
        ({"currency": "EUR"}, (422, "immutable_field")),
        ({"id": "other"}, (422, "immutable_field")),
        ({"parent": "x"}, (422, "immutable_field")),
        ({"colour": "red"}, (422, "unknown_field")),
        ({"timezone": "Mars/Olympus"}, (422, "invalid_timezone")),
        ({"timezone": None}, (422, "invalid_timezone")),
        ({"name": "bad\u0000name"}, (422, "invalid_name")),
        ({"name": "x" * 256}, (422, "invalid_request")),
    ]
    for patch, expected in cases:
        assert error(client.patch("/v1/customers/acme", json=patch)) == expected, patch
    assert error(client.patch("/v1/customers/nobody", json={"name": "x"})) == (
        404,
        "customer_not_found",
    )
    assert client.get("/v1/customers/acme").json()["currency"] == "USD"


def test_a_new_timezone_leaves_existing_subscription_periods_alone(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    client.post("/v1/customers", json={"id": "acme", "currency": "USD"})
    sub_id = _subscribe(client, "acme")
    before = client.get(f"/v1/subscriptions/{sub_id}").json()["current_period_start"]
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-02-02T00:00:00Z"}).status_code == 200
    )
    finalized = client.get("/v1/invoices", params={"status": "finalized"}).json()["data"]
    assert client.patch("/v1/customers/acme", json={"timezone": "Asia/Tokyo"}).status_code == 200
    assert client.get(f"/v1/subscriptions/{sub_id}").json()["current_period_start"] == before
    assert client.get("/v1/invoices", params={"status": "finalized"}).json()["data"] == finalized


# -- archiving ---------------------------------------------------------------------------


def test_archiving_a_customer_needs_its_subscriptions_cancelled(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    client.post("/v1/customers", json={"id": "parent", "currency": "USD"})
    client.post("/v1/customers", json={"id": "child", "currency": "USD", "parent": "parent"})
    child_sub = _subscribe(client, "child")
    refused = client.post("/v1/customers/parent/archive")  # the child bills to it
    assert error(refused) == (409, "customer_has_live_subscriptions")
    assert refused.json()["error"]["details"]["subscriptions"] == [child_sub]
    cancel = client.post(
        f"/v1/subscriptions/{child_sub}/cancel",
        json={"at": "2026-12-31T00:00:00Z", "mode": "end_of_period"},
    )
    assert cancel.status_code == 200, cancel.text
    archived = client.post("/v1/customers/parent/archive")
    assert archived.status_code == 200, archived.text
    stamp = archived.json()["archived_at"]
    assert stamp.endswith("Z")
    assert client.post("/v1/customers/parent/archive").json()["archived_at"] == stamp  # idempotent
    listed = [c["id"] for c in client.get("/v1/customers").json()["data"]]
    assert listed == ["child"]
    everyone = client.get("/v1/customers", params={"include_archived": "true"}).json()["data"]
    assert [c["id"] for c in everyone] == ["child", "parent"]
    assert client.get("/v1/customers/parent").json()["archived_at"] == stamp
    new_sub = client.post(
        "/v1/subscriptions",
        json={"customer": "parent", "plan": "monthly", "start": "2027-01-01T00:00:00Z"},
    )
    assert error(new_sub) == (409, "customer_archived")
    assert error(client.post("/v1/customers/nobody/archive")) == (404, "customer_not_found")


def test_an_archived_plan_takes_no_new_subscriptions_but_keeps_billing(
    client: TestClient,
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for customer in ("old", "new"):
        client.post("/v1/customers", json={"id": customer, "currency": "USD"})
    client.post("/v1/customers", json={"id": "mover", "currency": "USD"})
    _subscribe(client, "old")
    mover = _subscribe(client, "mover", "yearly")
    archived = client.post("/v1/plans/monthly/archive")
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived_at"].endswith("Z") and archived.json()["key"] == "monthly"
    assert error(client.post("/v1/plans/nope/archive")) == (404, "plan_not_found")
    refused = client.post(
        "/v1/subscriptions",
        json={"customer": "new", "plan": "monthly", "start": "2026-01-01T00:00:00Z"},
    )
    assert error(refused) == (409, "plan_archived")
    change = client.post(
        f"/v1/subscriptions/{mover}/change", json={"plan": "monthly", "at": "2026-03-01T00:00:00Z"}
    )
    assert error(change) == (409, "plan_archived")
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200  # does not unarchive
    listed = {p["key"] for p in client.get("/v1/plans").json()["data"]}
    assert "monthly" not in listed and "yearly" in listed
    every = client.get("/v1/plans", params={"include_archived": "true"}).json()["data"]
    assert {p["key"]: p["archived_at"] is not None for p in every}["monthly"] is True
    assert client.get("/v1/plans/monthly").json()["archived_at"] is not None
    run = client.post("/v1/billing-runs", json={"as_of": "2026-03-01T00:00:00Z"})
    assert run.status_code == 200
    billed = client.get("/v1/invoices", params={"customer": "old", "status": "finalized"})
    assert len(billed.json()["data"]) == 2  # January and February, on the archived plan


# -- filters -----------------------------------------------------------------------------


def test_customers_filter_by_email_and_text(client: TestClient) -> None:
    for cid, name, email in [
        ("acme", "Acme Corp", "Billing@Acme.test"),
        ("beta", "Beta 100% Ltd", "ops@beta.test"),
        ("gamma", None, None),
    ]:
        client.post(
            "/v1/customers", json={"id": cid, "currency": "USD", "name": name, "email": email}
        )

    def ids(**params: str) -> list[str]:
        response = client.get("/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert ids(email="billing@acme.test") == ["acme"]
    assert ids(email="acme.test") == []  # exact, not a substring
    assert ids(q="corp") == ["acme"]
    assert ids(q="AMM") == ["gamma"]  # the id matches too
    assert ids(q="100%") == ["beta"]
    assert ids(q="%") == ["beta"]  # a literal percent sign, not a wildcard
    assert ids(q="_") == []
    assert error(client.get("/v1/customers", params={"q": ""})) == (422, "invalid_request")


def test_invoices_filter_by_status_number_and_period(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    client.post("/v1/customers", json={"id": "acme", "currency": "USD"})
    _subscribe(client, "acme")
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-04-01T00:30:00Z"}).status_code == 200
    )

    def listed(**params: str) -> list[dict[str, object]]:
        response = client.get("/v1/invoices", params=params)
        assert response.status_code == 200, response.text
        data: list[dict[str, object]] = response.json()["data"]
        return data

    finals = listed(status="finalized")
    assert [i["number"] for i in finals] == ["INV-000001", "INV-000002", "INV-000003"]
    assert all(i["status"] == "draft" for i in listed(status="draft"))
    assert [i["number"] for i in listed(number="INV-000002")] == ["INV-000002"]
    assert [i["number"] for i in listed(number="3")] == ["INV-000003"]
    feb = listed(period_start_from="2026-02-01T00:00:00Z", period_start_to="2026-03-01T00:00:00Z")
    assert [i["period_start"] for i in feb] == ["2026-02-01T00:00:00Z"]
    assert error(client.get("/v1/invoices", params={"number": "nope"})) == (
        422,
        "invalid_number_filter",
    )
    assert error(client.get("/v1/invoices", params={"period_start_from": "soon"})) == (
        422,
        "invalid_instant",
    )
    assert error(client.get("/v1/invoices", params={"status": "lost"})) == (422, "invalid_status")


# -- API keys ----------------------------------------------------------------------------


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_created_listed_and_revoked(client: TestClient) -> None:
    created = client.post("/v1/keys", json={"name": "billing job", "roles": ["billing", "viewer"]})
    assert created.status_code == 201, created.text
    new = created.json()
    assert set(new) == {"id", "name", "roles", "key", "created_at"}
    assert new["roles"] == ["billing", "viewer"] and new["key"].startswith("tb_")
    default = client.post("/v1/keys", json={"name": "second admin"}).json()
    assert default["roles"] == ["admin"]
    # the new key works, for the same tenant
    assert client.get("/v1/customers", headers=_bearer(new["key"])).status_code == 200
    listing = client.get("/v1/keys")
    assert listing.status_code == 200
    assert new["key"] not in listing.text and "key_hash" not in listing.text
    rows = {row["id"]: row for row in listing.json()["data"]}
    assert len(rows) == 3 and all("key" not in row for row in rows.values())
    assert rows[new["id"]]["roles"] == ["billing", "viewer"]
    for body, code in [
        ({"name": "x", "roles": ["root"]}, "invalid_roles"),
        ({"name": "x", "roles": []}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
        ({"roles": ["admin"]}, "invalid_request"),
    ]:
        assert error(client.post("/v1/keys", json=body))[1] == code, body

    revoked = client.delete(f"/v1/keys/{new['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"].endswith("Z")
    assert error(client.get("/v1/customers", headers=_bearer(new["key"]))) == (
        401,
        "invalid_api_key",
    )  # at once in this process
    assert (
        client.delete(f"/v1/keys/{new['id']}").json()["revoked_at"] == revoked.json()["revoked_at"]
    )
    assert error(client.delete("/v1/keys/key_nope")) == (404, "key_not_found")

    me = next(r["id"] for r in rows.values() if r["name"].startswith("admin"))
    assert error(client.delete(f"/v1/keys/{me}")) == (409, "key_in_use")
    # with the second admin key gone, the test key is the last admin key
    assert client.delete(f"/v1/keys/{default['id']}").status_code == 200
    viewer = client.post("/v1/keys", json={"name": "viewer", "roles": ["viewer"]}).json()
    denied = client.delete(f"/v1/keys/{me}", headers=_bearer(viewer["key"]))
    assert error(denied) == (403, "forbidden")  # only admins manage keys
    assert error(client.delete(f"/v1/keys/{me}")) == (409, "last_admin_key")
    assert client.get("/v1/customers").status_code == 200


@pytest.fixture
def second_process(settings: Settings, container: Container) -> Iterator[TestClient]:
    """Another API process on the same store, with a short key cache."""
    other = build(settings.model_copy(update={"key_cache_seconds": 0.5}))
    with TestClient(create_app(container=other), headers=_bearer(TEST_KEY)) as client:
        yield client
    other.close()


def test_a_revocation_reaches_other_processes_within_the_cache_ttl(
    client: TestClient, second_process: TestClient
) -> None:
    new = client.post("/v1/keys", json={"name": "short-lived"}).json()
    assert second_process.get("/v1/customers", headers=_bearer(new["key"])).status_code == 200
    assert client.delete(f"/v1/keys/{new['id']}").status_code == 200
    deadline = time.monotonic() + 30  # a hang guard; the TTL is 0.5 s
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = second_process.get("/v1/customers", headers=_bearer(new["key"])).status_code
        time.sleep(0.05)
    assert status == 401  # the other process's cache expired and re-read the revoked key


def test_cli_keys_create_list_and_revoke(
    container: Container, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    monkeypatch.setattr(cli_console, "width", 250)  # no wrapped table cells
    runner = CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "--name", "ci", "--role", "ingest"], terminal_width=200
    )
    assert made.exit_code == 0, made.output
    assert "(ingest)" in made.output and "tb_" in made.output
    key_id = made.output.split(" key ")[1].split()[0]
    listed = runner.invoke(cli, ["keys", "list"], terminal_width=200)
    assert listed.exit_code == 0 and key_id in listed.output and "ingest" in listed.output
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    revoked = {k.id: k.revoked_at for k in container.keys.list("default").items}
    assert revoked[key_id] is not None
    admin = next(k.id for k in container.keys.list("default").items if "admin" in k.roles)
    refused = runner.invoke(cli, ["keys", "revoke", admin])
    assert refused.exit_code == 1 and "last_admin_key" in refused.output
    bad = runner.invoke(cli, ["keys", "create", "--role", "root"])
    assert bad.exit_code == 1 and "invalid_roles" in bad.output


def test_revoking_a_key_over_http_ends_its_portal_sessions(client: TestClient) -> None:
    new = client.post("/v1/keys", json={"name": "portal user"}).json()
    with TestClient(client.app) as browser:
        login = browser.post("/portal/login", data={"api_key": new["key"]}, follow_redirects=False)
        assert login.status_code == 303, login.text
        assert browser.get("/portal", follow_redirects=False).status_code == 200
        assert client.delete(f"/v1/keys/{new['id']}").status_code == 200
        assert browser.get("/portal", follow_redirects=False).status_code == 303  # to login
