"""Exactly-once: duplicates and conflicts, across batches and within one, on both stores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.store.schema_events import events
from tallybook.bootstrap import Container


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id, "customer": "acme", "type": "api_call"}
    event.update(fields)
    return event


def post(client: TestClient, body: Any) -> dict[str, Any]:
    response = client.post("/v1/events", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def stored(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def counts(result: dict[str, Any]) -> tuple[int, int, int, int]:
    return result["accepted"], result["duplicates"], result["rejected"], result["conflicts"]


def test_repeat_with_same_body_is_a_duplicate(client: TestClient, container: Container) -> None:
    event = ev("e1", timestamp="2026-11-01T12:00:00Z", properties={"tokens": 5, "m": "a"})
    assert counts(post(client, event)) == (1, 0, 0, 0)
    assert counts(post(client, event)) == (0, 1, 0, 0)
    # same instant written differently, keys in another order: still the same body
    same = ev("e1", timestamp="2026-11-01T13:00:00+01:00", properties={"m": "a", "tokens": 5})
    result = post(client, same)
    assert counts(result) == (0, 1, 0, 0)
    assert result["errors"] == []
    assert stored(container) == 1


def test_repeat_without_timestamp_is_a_duplicate(client: TestClient) -> None:
    """A retry of an event sent without a timestamp matches the original."""
    post(client, ev("e1", properties={"n": 1}))
    assert counts(post(client, ev("e1", properties={"n": 1}))) == (0, 1, 0, 0)


def test_repeat_with_other_body_is_a_conflict(client: TestClient, container: Container) -> None:
    post(client, ev("e1", properties={"tokens": 5}))
    result = post(client, [ev("e1", properties={"tokens": 6}), ev("e2")])
    assert counts(result) == (1, 0, 1, 1)
    assert result["errors"] == [
        {"index": 0, "id": "e1", "code": "conflict", "message": result["errors"][0]["message"]}
    ]
    for changed in (
        ev("e1", customer="other"),
        ev("e1", type="x"),
        ev("e1", timestamp="2026-01-01T00:00:00Z"),
    ):
        assert counts(post(client, changed)) == (0, 0, 1, 1)
    assert stored(container) == 2
    listed = client.get("/v1/events", params={"customer": "acme"}).json()["data"]
    assert {e["id"]: e["properties"] for e in listed}["e1"] == {"tokens": 5}
    letters = client.get("/v1/events/rejected").json()["data"]
    assert {letter["code"] for letter in letters} == {"conflict"}
    assert len(letters) == 4


def test_duplicates_within_one_batch(client: TestClient, container: Container) -> None:
    batch = [ev("a"), ev("a"), ev("b", properties={"x": 1}), ev("b", properties={"x": 2}), ev("a")]
    result = post(client, batch)
    assert counts(result) == (2, 2, 1, 1)
    assert [(e["index"], e["code"]) for e in result["errors"]] == [(3, "conflict")]
    assert stored(container) == 2


def test_in_batch_repeats_compare_with_the_stored_event(client: TestClient) -> None:
    post(client, ev("k", properties={"v": 1}))
    batch = [
        ev("k", properties={"v": 2}),
        ev("k", properties={"v": 2}),
        ev("k", properties={"v": 1}),
    ]
    result = post(client, batch)
    assert counts(result) == (0, 1, 2, 2)
    assert [e["index"] for e in result["errors"]] == [0, 1]


def test_a_rejected_first_occurrence_does_not_shadow_a_valid_repeat(client: TestClient) -> None:
    result = post(client, [ev("r", timestamp="bad"), ev("r")])
    assert counts(result) == (1, 0, 1, 0)


def test_whole_batch_retried_counts_nothing_twice(client: TestClient, container: Container) -> None:
    batch = [ev(f"evt_{i:05d}", properties={"i": i}) for i in range(1500)]
    assert post(client, batch)["accepted"] == 1500
    retry = post(client, [*batch[500:], ev("evt_new")])
    assert counts(retry) == (1, 1000, 0, 0)
    assert stored(container) == 1501


def test_concurrent_identical_batches_store_each_event_once(
    client: TestClient, container: Container
) -> None:
    batch = [ev(f"c{i}") for i in range(300)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: post(client, batch), range(6)))
    assert sum(r["accepted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 300 * 5
    assert stored(container) == 300


def test_dedupe_is_per_source(client: TestClient, container: Container) -> None:
    """A native event and CloudEvents from two sources may share an id."""
    post(client, ev("shared"))
    for source in ("svc-a", "svc-b", "svc-a"):
        body = {"id": "shared", "source": source, "type": "api_call", "subject": "acme"}
        response = client.post("/api/v1/events", json=body)
        assert response.status_code == 204
    assert stored(container) == 3
