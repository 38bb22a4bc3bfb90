"""Tenant isolation: a key sees, deduplicates and replays only its own tenant's events."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tallybook.bootstrap import Container


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id, "customer": "acme", "type": "api_call"}
    event.update(fields)
    return event


def test_tenants_are_isolated(client: TestClient, container: Container) -> None:
    other = {"Authorization": f"Bearer {container.tenants.create_key('other').key}"}
    mine = client.post("/v1/events", json=[ev("e1", properties={"v": 1}), ev("bad", timestamp="x")])
    assert mine.json()["accepted"] == 1

    # the same id in another tenant is a new event, not a duplicate nor a conflict
    theirs = client.post("/v1/events", json=ev("e1", properties={"v": 2}), headers=other).json()
    assert (theirs["accepted"], theirs["duplicates"], theirs["conflicts"]) == (1, 0, 0)
    ce = {"id": "e1", "source": "s", "type": "api_call", "subject": "acme"}
    assert client.post("/api/v1/events", json=ce).status_code == 204
    assert client.post("/api/v1/events", json=ce, headers=other).status_code == 204

    # each tenant lists only its own events and dead letters
    listed = client.get("/v1/events", params={"customer": "acme"}, headers=other).json()["data"]
    assert {(e["id"], e["source"]) for e in listed} == {("e1", None), ("e1", "s")}
    assert [e["properties"] for e in listed if e["source"] is None] == [{"v": 2}]
    assert client.get("/v1/events/rejected", headers=other).json()["data"] == []
    [letter] = client.get("/v1/events/rejected").json()["data"]

    # and cannot touch the other's dead letters
    for action in ("replay", "discard"):
        response = client.post(f"/v1/events/rejected/{letter['id']}/{action}", headers=other)
        assert response.status_code == 404
    assert client.get(f"/v1/events/rejected/{letter['id']}", headers=other).status_code == 404
    own = client.get("/v1/events").json()["data"]
    assert {(e["id"], e["source"], str(e["properties"])) for e in own} == {
        ("e1", None, "{'v': 1}"),
        ("e1", "s", "{}"),
    }
