"""``/v1/webhook-endpoints`` and ``/v1/webhook-messages`` through the ASGI app, both
stores: shapes, secrets shown once, client ids, pagination and coded 4xx for bad input."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error

URL = "http://127.0.0.1:9/hooks"


def create(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/webhook-endpoints", json={"url": URL, **body})


def test_create_shows_the_secret_once(client: TestClient) -> None:
    created = create(client, events=["invoice.finalized"], description="billing")
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    assert body["events"] == ["invoice.finalized"] and body["status"] == "enabled"
    got = client.get(f"/v1/webhook-endpoints/{body['id']}")
    assert got.status_code == 200 and "secret" not in got.json()
    assert secret not in got.text
    listed = client.get("/v1/webhook-endpoints")
    assert [e["id"] for e in listed.json()["data"]] == [body["id"]]
    assert secret not in listed.text and listed.json()["next_cursor"] is None
    assert create(client).json()["events"] == ["*"]
    assert create(client).json()["secret"] != secret


def test_client_id_makes_create_idempotent(client: TestClient) -> None:
    first = create(client, id="ops-hook", events=["*"])
    assert first.status_code == 201 and first.json()["id"] == "ops-hook"
    again = create(client, id="ops-hook", events=["*"])
    assert again.status_code == 200
    assert again.json()["id"] == "ops-hook" and "secret" not in again.json()
    assert again.json()["created_at"] == first.json()["created_at"]
    assert error(create(client, id="ops-hook", events=["invoice.paid"])) == (409, "conflict")
    assert error(create(client, id="bad id/with slash")) == (422, "invalid_id")


def test_update_disable_enable_delete(client: TestClient) -> None:
    endpoint_id = create(client).json()["id"]
    changed = client.patch(
        f"/v1/webhook-endpoints/{endpoint_id}",
        json={"events": ["subscription.created", "subscription.canceled"], "description": "x"},
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["subscription.created", "subscription.canceled"]
    disabled = client.post(f"/v1/webhook-endpoints/{endpoint_id}/disable").json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"]
    enabled = client.post(f"/v1/webhook-endpoints/{endpoint_id}/enable").json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    deleted = client.delete(f"/v1/webhook-endpoints/{endpoint_id}")
    assert deleted.status_code == 200 and deleted.json() == {"id": endpoint_id, "deleted": True}
    missing = client.get(f"/v1/webhook-endpoints/{endpoint_id}")
    assert error(missing) == (404, "webhook_endpoint_not_found")
    assert error(client.delete(f"/v1/webhook-endpoints/{endpoint_id}"))[0] == 404
    assert error(client.post("/v1/webhook-endpoints/nope/rotate-secret"))[0] == 404


def test_pagination_with_an_opaque_cursor(client: TestClient) -> None:
    ids = sorted(create(client, id=f"ep-{n}").json()["id"] for n in range(5))
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/webhook-endpoints", params=params).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        if cursor is None:
            break
        assert "ep-" not in cursor  # opaque
    assert seen == ids


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "invalid_webhook_url"),
        ("file:///etc/passwd", "invalid_webhook_url"),
        ("javascript:alert(1)", "invalid_webhook_url"),
        ("http://", "invalid_webhook_url"),
        ("http://user:pw@example.com/", "invalid_webhook_url"),
        ("http://example.com:99999/", "invalid_webhook_url"),
        ("http://exa mple.com/", "invalid_webhook_url"),
        ("http://127.0.0.1:8080/hooks", "invalid_webhook_url"),  # the server itself
        ("http://localhost:8080/hooks", "invalid_webhook_url"),
        ("http://[::1]:8080/hooks", "invalid_webhook_url"),
    ],
)
def test_bad_urls_are_refused(client: TestClient, url: str, code: str) -> None:
    assert error(client.post("/v1/webhook-endpoints", json={"url": url})) == (422, code)


def test_other_bad_input_is_a_coded_4xx(client: TestClient) -> None:
    too_long = "https://example.com/" + "a" * 2100
    assert error(client.post("/v1/webhook-endpoints", json={"url": too_long}))[0] == 422
    assert create(client, url="http://127.0.0.1:8081/hooks").status_code == 201  # loopback ok
    assert create(client, url="https://10.1.2.3/hooks").status_code == 201  # private ok
    assert error(create(client, events=["invoice.exploded"])) == (422, "unknown_event_type")
    assert error(create(client, events=[])) == (422, "invalid_request")
    assert error(create(client, events=["*", "invoice.paid"])) == (422, "invalid_event_filter")
    assert error(create(client, secret="whsec_mine")) == (422, "invalid_request")
    assert error(create(client, description="x" * 501)) == (422, "invalid_request")
    assert error(
        client.post(
            "/v1/webhook-endpoints",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    ) == (
        422,
        "invalid_request",
    )
    assert error(client.get("/v1/webhook-endpoints", params={"limit": 0}))[0] == 422
    assert error(client.get("/v1/webhook-endpoints", params={"limit": 1001}))[0] == 422
    assert client.get("/v1/webhook-endpoints", params={"limit": 1000}).status_code == 200
    assert error(client.get("/v1/webhook-endpoints", params={"cursor": "!!"})) == (
        422,
        "invalid_cursor",
    )
    assert error(client.get("/v1/webhook-endpoints", params={"colour": "red"})) == (
        400,
        "unknown_parameter",
    )
    messages = "/v1/webhook-messages"
    assert error(client.get(messages, params={"status": "lost"})) == (422, "invalid_status")
    assert error(client.get(messages, params={"type": "nope"})) == (422, "unknown_event_type")
    assert error(client.get(messages, params={"since": "x"})) == (400, "unknown_parameter")
    assert error(client.get(f"{messages}/msg_nope")) == (404, "webhook_message_not_found")
    assert error(client.post(f"{messages}/msg_nope/retry")) == (404, "webhook_message_not_found")
    assert client.get(messages).json() == {"data": [], "has_more": False, "next_cursor": None}


def test_endpoints_are_scoped_to_the_tenant(client: TestClient) -> None:
    from tallybook.bootstrap import Container

    container: Container = client.app.state.container  # type: ignore[attr-defined]
    other = container.tenants.create_key("other", "k").key
    endpoint_id = create(client).json()["id"]
    foreign = {"Authorization": f"Bearer {other}"}
    assert client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=foreign).status_code == 404
    assert client.get("/v1/webhook-endpoints", headers=foreign).json()["data"] == []
    assert client.get("/v1/webhook-endpoints", headers={"Authorization": ""}).status_code == 401


def test_path_ids_are_bounded(client: TestClient) -> None:
    assert error(client.get("/v1/webhook-endpoints/" + "e" * 256))[0] == 422
    assert error(client.get("/v1/webhook-messages/" + "m" * 41))[0] == 422
