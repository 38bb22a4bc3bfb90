"""Rejected events are echoed and stored bounded; event times are bounded as billing is
(issue 17, item 8), on SQLite and PostgreSQL.

Reproductions: a rejected event with a 15 MB id was echoed in full in the response and
stored in full in the dead-letter store; an event stamped in year 0001 was accepted.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.store.schema_events import rejected_events
from tallybook.bootstrap import Container
from tallybook.services.events_bounds import MAX_ECHO_CHARS, MAX_STORED_CHARS, bounded_raw

HUGE = 15_000_000


def post(client: TestClient, events: Any, path: str = "/v1/events", **kw: Any) -> Any:
    kw.setdefault("headers", {"Content-Type": "application/json"})
    response = client.post(path, content=orjson.dumps(events), **kw)
    assert response.status_code < 500, response.text
    return response


def test_a_15_mb_id_is_echoed_and_stored_truncated(
    client: TestClient, container: Container
) -> None:
    event = {"id": "x" * HUGE, "customer": "c1", "type": "api_call"}
    response = post(client, [event])
    assert response.status_code == 200 and len(response.content) < 2000
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_id"
    assert error["id"] == "x" * MAX_ECHO_CHARS + f"\u2026[truncated: {HUGE} chars]"
    with container.engine.connect() as conn:
        longest = conn.execute(select(func.max(func.length(rejected_events.c.event)))).scalar()
    assert longest is not None and longest <= MAX_STORED_CHARS + 100
    letter = client.get("/v1/events/rejected").json()["data"][0]
    assert letter["event"]["id"].endswith(f"[truncated: {HUGE} chars]")
    assert letter["event"]["customer"] == "c1" and letter["event_id"] is None


def test_a_cloudevent_with_a_huge_id_is_bounded_too(client: TestClient) -> None:
    event = {"id": "y" * HUGE, "source": "s", "type": "t", "subject": "c1", "specversion": "1.0"}
    response = post(
        client, event, "/api/v1/events", headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 400 and len(response.content) < 2000
    assert "y" * (MAX_ECHO_CHARS + 1) not in response.text


def test_a_small_rejected_event_is_kept_whole(client: TestClient) -> None:
    event = {
        "id": "e1",
        "customer": "c1",
        "type": "t",
        "timestamp": "nope",
        "properties": {"a": "b" * 5000},
    }
    assert post(client, [event]).json()["errors"][0]["code"] == "invalid_timestamp"
    assert client.get("/v1/events/rejected").json()["data"][0]["event"] == event


def test_many_long_strings_keep_only_a_head() -> None:
    raw = {f"k{i}": "z" * 5000 for i in range(1000)}
    stored = orjson.loads(bounded_raw(raw))
    assert len(orjson.dumps(stored)) < MAX_STORED_CHARS + 1000
    assert stored["truncated"] is True and stored["chars"] > MAX_STORED_CHARS


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "2200-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_event_times_outside_1970_2199_are_refused(client: TestClient, stamp: str) -> None:
    event = {"id": "e1", "customer": "c1", "type": "api_call", "timestamp": stamp}
    body = post(client, [event]).json()
    assert body["accepted"] == 0
    assert body["errors"][0]["code"] in ("timestamp_out_of_range", "timestamp_in_future")
    if stamp < "1970":
        assert body["errors"][0]["code"] == "timestamp_out_of_range"
        assert "1970" in body["errors"][0]["message"]


def test_the_first_instant_of_1970_is_accepted(client: TestClient) -> None:
    event = {"id": "e1", "customer": "c1", "type": "api_call", "timestamp": "1970-01-01T00:00:00Z"}
    assert post(client, [event]).json()["accepted"] == 1
