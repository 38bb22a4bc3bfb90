"""POST /v1/events: body shapes, per-event validation codes, partial batches, limits.

Runs on both stores (``client`` is parametrised over SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.store.schema_events import events
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY


def ev(event_id: str = "evt_1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id, "customer": "acme", "type": "api_call"}
    event.update(fields)
    return event


def stored(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def post(client: TestClient, body: Any) -> dict[str, Any]:
    response = client.post("/v1/events", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def codes(result: dict[str, Any]) -> list[str]:
    return [e["code"] for e in result["errors"]]


def test_one_event_array_and_envelope_are_accepted(
    client: TestClient, container: Container
) -> None:
    assert post(client, ev("a")) == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
        "conflicts": 0,
        "errors": [],
    }
    assert post(client, [ev("b"), ev("c")])["accepted"] == 2
    assert post(client, {"events": [ev("d")]})["accepted"] == 1
    assert post(client, [])["accepted"] == 0
    assert stored(container) == 4


def test_stored_event_keeps_fields_and_received_at(client: TestClient) -> None:
    post(
        client,
        ev("full", timestamp="2026-11-01T12:00:00+01:00", properties={"tokens": 1200, "m": "x"}),
    )
    listed = client.get("/v1/events").json()["data"][0]
    assert listed["id"] == "full"
    assert listed["customer"] == "acme"
    assert listed["type"] == "api_call"
    assert listed["timestamp"] == "2026-11-01T11:00:00Z"
    assert listed["properties"] == {"tokens": 1200, "m": "x"}
    received = datetime.fromisoformat(listed["received_at"])
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=1)


def test_timestamp_defaults_to_receipt(client: TestClient) -> None:
    before = datetime.now(UTC)
    post(client, ev("now"))
    listed = client.get("/v1/events").json()["data"][0]
    assert listed["timestamp"] == listed["received_at"]
    assert datetime.fromisoformat(listed["timestamp"]) >= before - timedelta(seconds=1)


FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()
BAD_EVENTS: list[tuple[Any, str]] = [
    ("not an object", "invalid_event"),
    ([1, 2], "invalid_event"),
    ({"customer": "acme", "type": "t"}, "missing_id"),
    (ev(None), "missing_id"),
    (ev(""), "invalid_id"),
    (ev(42), "invalid_id"),
    (ev("x" * 256), "invalid_id"),
    (ev("nul\x00"), "invalid_id"),
    ({"id": "e", "type": "t"}, "missing_customer"),
    (ev(customer=7), "invalid_customer"),
    (ev(customer=""), "invalid_customer"),
    ({"id": "e", "customer": "c"}, "missing_type"),
    (ev(type=["x"]), "invalid_type"),
    (ev(type="t" * 300), "invalid_type"),
    (ev(timestamp="yesterday"), "invalid_timestamp"),
    (ev(timestamp=1700000000), "invalid_timestamp"),
    (ev(timestamp="2026-11-01T12:00:00"), "invalid_timestamp"),
    (ev(timestamp="2026-11-01"), "invalid_timestamp"),
    (ev(timestamp=FUTURE), "timestamp_in_future"),
    (ev(timestamp="9999-12-31T23:59:59Z"), "timestamp_in_future"),
    (ev(properties=[1]), "invalid_properties"),
    (ev(properties="x"), "invalid_properties"),
    (ev(properties={"k": "nul\x00"}), "invalid_properties"),
    (
        ev(properties={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}),
        "properties_too_deep",
    ),
    (ev(properties={"a": [[[[[[[[[1]]]]]]]]]}), "properties_too_deep"),
    (ev(properties={"blob": "x" * (65 * 1024)}), "event_too_large"),
]


@pytest.mark.parametrize(("event", "code"), BAD_EVENTS, ids=[c for _, c in BAD_EVENTS])
def test_each_validation_code(client: TestClient, event: Any, code: str) -> None:
    result = post(client, [event])
    assert result["accepted"] == 0
    assert result["rejected"] == 1
    assert codes(result) == [code]
    assert result["errors"][0]["index"] == 0
    assert result["errors"][0]["message"]


def test_allowed_edges(client: TestClient) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    eight_deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}
    result = post(
        client,
        [
            ev("x" * 255),
            ev("soon", timestamp=soon),
            ev("old", timestamp="1999-01-01T00:00:00.123456Z"),
            ev("deep", properties=eight_deep),
            ev("nulls", properties=None),
            ev("unicode", customer="ácmé 🚀", properties={"emoji": "🚀"}),
        ],
    )
    assert result["accepted"] == 6, result


def test_valid_events_are_stored_when_others_fail(client: TestClient, container: Container) -> None:
    batch = [ev("ok1"), ev("bad", timestamp="nope"), ev("ok2"), {"id": "nocust", "type": "t"}]
    result = post(client, batch)
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert [(e["index"], e["id"], e["code"]) for e in result["errors"]] == [
        (1, "bad", "invalid_timestamp"),
        (3, "nocust", "missing_customer"),
    ]
    assert stored(container) == 2


def test_rejected_events_go_to_the_dead_letter_store(client: TestClient) -> None:
    post(client, [ev("ok"), ev("bad", timestamp="nope")])
    letters = client.get("/v1/events/rejected").json()["data"]
    assert len(letters) == 1
    assert letters[0]["code"] == "invalid_timestamp"
    assert letters[0]["event"] == ev("bad", timestamp="nope")
    assert letters[0]["status"] == "open"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"NaN", b"[Infinity]", b'{"id": NaN}', b"[1e400]", b'"\\ud800"'],
    ids=["garbage", "empty", "nan", "infinity", "nan-field", "overflow", "lone-surrogate"],
)
def test_non_json_is_400_invalid_json(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("body", [b"42", b'"event"', b"null", b'{"events": {"id": "x"}}'])
def test_wrong_top_level_shape_is_400_invalid_body(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
)
def test_json_with_any_charset_is_accepted(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/v1/events",
        content=b'{"id":"c","customer":"a","type":"t"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_other_content_types_are_415(client: TestClient, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(
        "/v1/events", content=b'{"id":"c","customer":"a","type":"t"}', headers=headers
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_missing_or_wrong_key_is_401(client: TestClient) -> None:
    response = client.post("/v1/events", json=ev(), headers={"authorization": ""})
    assert response.status_code == 401
    response = client.post("/v1/events", json=ev(), headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.fixture
def small_client(settings: Settings) -> Iterator[tuple[TestClient, Container]]:
    """A server with small limits: 5 events per batch, 4 KiB bodies, 512-byte events."""
    small = settings.model_copy(
        update={"max_batch_events": 5, "max_body_bytes": 4096, "max_event_bytes": 512}
    )
    container = build(small)
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        yield client, container
    container.close()


def test_batch_over_the_limit_is_413(small_client: tuple[TestClient, Container]) -> None:
    client, container = small_client
    response = client.post("/v1/events", json=[ev(f"e{i}") for i in range(6)])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert stored(container) == 0
    assert post(client, [ev(f"e{i}") for i in range(5)])["accepted"] == 5


def test_body_over_the_limit_is_413(small_client: tuple[TestClient, Container]) -> None:
    client, container = small_client
    response = client.post("/v1/events", json=ev(properties={"blob": "x" * 5000}))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stored(container) == 0


def test_event_over_the_limit_is_rejected(small_client: tuple[TestClient, Container]) -> None:
    client, _ = small_client
    result = post(client, [ev("big", properties={"blob": "x" * 600}), ev("small")])
    assert codes(result) == ["event_too_large"]
    assert result["accepted"] == 1


def test_metrics_count_events_by_outcome(client: TestClient) -> None:
    post(client, [ev("m1"), ev("m2"), ev("m1"), ev("m1", properties={"x": 1}), ev(None)])
    text = client.get("/metrics").text
    assert 'tallybook_events_total{outcome="accepted"} 2.0' in text
    assert 'tallybook_events_total{outcome="duplicate"} 1.0' in text
    assert 'tallybook_events_total{outcome="conflict"} 1.0' in text
    assert 'tallybook_events_total{outcome="rejected"} 1.0' in text


def test_cloudevents_batch_over_the_limit_is_a_413_problem(
    small_client: tuple[TestClient, Container],
) -> None:
    client, container = small_client
    batch = [{"id": f"c{i}", "source": "s", "type": "t", "subject": "acme"} for i in range(6)]
    response = client.post("/api/v1/events", json=batch)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "batch_too_large"
    assert stored(container) == 0
