"""The dead-letter store: list, replay (as received or corrected), discard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.store.schema_events import events
from tallybook.bootstrap import Container


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id, "customer": "acme", "type": "api_call"}
    event.update(fields)
    return event


def stored(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def letters(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/events/rejected", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def reject(client: TestClient, *bad: dict[str, Any]) -> list[str]:
    result = client.post("/v1/events", json=list(bad)).json()
    assert result["rejected"] == len(bad)
    return [letter["id"] for letter in letters(client)[: len(bad)]]


def test_listing_newest_first_with_status_filter_and_pages(client: TestClient) -> None:
    client.post("/v1/events", json=[ev(f"b{i}", timestamp="bad") for i in range(5)])
    everything = letters(client)
    assert [item["event_id"] for item in everything] == ["b4", "b3", "b2", "b1", "b0"]
    first = client.get("/v1/events/rejected", params={"limit": 2}).json()
    second = client.get(
        "/v1/events/rejected", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    third = client.get(
        "/v1/events/rejected", params={"limit": 2, "cursor": second["next_cursor"]}
    ).json()
    pages = [item["event_id"] for page in (first, second, third) for item in page["data"]]
    assert pages == ["b4", "b3", "b2", "b1", "b0"]
    assert third["next_cursor"] is None
    client.post(f"/v1/events/rejected/{everything[0]['id']}/discard")
    assert len(letters(client, status="open")) == 4
    assert [item["event_id"] for item in letters(client, status="discarded")] == ["b4"]
    assert letters(client, status="replayed") == []
    response = client.get("/v1/events/rejected", params={"status": "bogus"})
    assert response.status_code == 422


def test_replay_with_a_corrected_event(client: TestClient, container: Container) -> None:
    [rid] = reject(client, ev("fixme", timestamp="yesterday", properties={"n": 1}))
    fixed = ev("fixme", timestamp="2026-01-01T00:00:00Z", properties={"n": 1})
    response = client.post(f"/v1/events/rejected/{rid}/replay", json=fixed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "accepted"
    assert body["rejected_event"]["status"] == "replayed"
    assert body["rejected_event"]["replayed_at"] is not None
    assert stored(container) == 1
    again = client.post(f"/v1/events/rejected/{rid}/replay", json=fixed)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "rejected_event_not_open"
    assert stored(container) == 1


def test_replay_as_received_after_the_cause_went_away(
    client: TestClient, container: Container
) -> None:
    """An event rejected as too far in the future is replayed unchanged once it is not."""
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    [rid] = reject(client, ev("early", timestamp=soon))
    response = client.post(f"/v1/events/rejected/{rid}/replay")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "timestamp_in_future"
    assert letters(client)[0]["status"] == "open"
    # the operator fixes the clock skew by correcting the timestamp
    fixed = ev("early", timestamp=datetime.now(UTC).isoformat())
    assert client.post(f"/v1/events/rejected/{rid}/replay", json=fixed).status_code == 200
    assert stored(container) == 1


def test_failed_replay_keeps_it_open_and_returns_the_new_errors(client: TestClient) -> None:
    [rid] = reject(client, ev("x", timestamp="bad"))
    response = client.post(f"/v1/events/rejected/{rid}/replay", json=ev("x", properties=[1]))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_properties"
    assert error["details"]["errors"][0]["code"] == "invalid_properties"
    assert letters(client)[0]["status"] == "open"
    bad_json = client.post(
        f"/v1/events/rejected/{rid}/replay",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "invalid_json"


def test_replaying_a_conflict(client: TestClient, container: Container) -> None:
    client.post("/v1/events", json=ev("c", properties={"v": 1}))
    client.post("/v1/events", json=ev("c", properties={"v": 2}))
    [letter] = letters(client)
    assert letter["code"] == "conflict"
    conflict = client.post(f"/v1/events/rejected/{letter['id']}/replay")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    same_as_stored = client.post(
        f"/v1/events/rejected/{letter['id']}/replay", json=ev("c", properties={"v": 1})
    )
    assert same_as_stored.status_code == 200
    assert same_as_stored.json()["outcome"] == "duplicate"
    assert stored(container) == 1


def test_discard(client: TestClient) -> None:
    [rid] = reject(client, ev("d", timestamp="bad"))
    response = client.post(f"/v1/events/rejected/{rid}/discard")
    assert response.status_code == 200
    assert response.json()["status"] == "discarded"
    assert response.json()["discarded_at"] is not None
    assert client.post(f"/v1/events/rejected/{rid}/discard").status_code == 200
    replay = client.post(f"/v1/events/rejected/{rid}/replay", json=ev("d"))
    assert replay.status_code == 409


def test_unknown_ids_are_404(client: TestClient) -> None:
    for path in ("", "/replay", "/discard"):
        method = client.get if not path else client.post
        response = method(f"/v1/events/rejected/rej_missing{path}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "rejected_event_not_found"


def test_raw_event_of_any_shape_is_kept(client: TestClient) -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    client.post("/v1/events", json=["just a string", 42, None, ev("deep", properties={"d": deep})])
    kept = letters(client)
    assert [k["event"] for k in kept[1:]] == [None, 42, "just a string"]
    assert kept[0]["code"] == "properties_too_deep"
    assert kept[0]["event"]["id"] == "deep"
