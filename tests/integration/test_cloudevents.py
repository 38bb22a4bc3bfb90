"""POST /api/v1/events: CloudEvents (OpenMeter compatible), single, batch and plain JSON."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def ce(event_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "billing-svc",
        "type": "api_call",
        "subject": "acme",
        "time": "2026-11-01T12:00:00Z",
        "data": {"tokens": 10},
    }
    event.update(fields)
    return event


def send(client: TestClient, body: Any, content_type: str) -> Response:
    return client.post(
        "/api/v1/events", content=orjson.dumps(body), headers={"content-type": content_type}
    )


def listed(client: TestClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.get("/v1/events", params={"order": "asc"}).json()["data"]
    return data


def test_single_event_maps_onto_the_native_model(client: TestClient) -> None:
    response = send(client, ce("c1"), SINGLE)
    assert response.status_code == 204
    assert response.content == b""
    [stored] = listed(client)
    assert stored["id"] == "c1"
    assert stored["source"] == "billing-svc"
    assert stored["customer"] == "acme"
    assert stored["type"] == "api_call"
    assert stored["timestamp"] == "2026-11-01T12:00:00Z"
    assert stored["properties"] == {"tokens": 10}


@pytest.mark.parametrize(
    ("content_type", "as_list"),
    [
        (BATCH, True),
        ("application/json", True),
        ("application/json", False),
        ("application/json; charset=utf-8", True),
        (f"{BATCH}; charset=UTF-8", True),
        (f"{SINGLE}; charset=utf-8", False),
    ],
)
def test_content_types(client: TestClient, content_type: str, as_list: bool) -> None:
    body: Any = [ce("a"), ce("b")] if as_list else ce("a")
    assert send(client, body, content_type).status_code == 204
    assert len(listed(client)) == (2 if as_list else 1)


def test_defaults_specversion_time_and_data(client: TestClient) -> None:
    minimal = {"id": "m", "source": "s", "type": "t", "subject": "acme"}
    assert send(client, minimal, SINGLE).status_code == 204
    assert send(client, ce("n", data=None, time=None), SINGLE).status_code == 204
    assert [e["properties"] for e in listed(client)] in ([{}, {}],)


def test_duplicates_are_204_and_counted_once(client: TestClient) -> None:
    for _ in range(3):
        assert send(client, [ce("d1"), ce("d1")], BATCH).status_code == 204
    assert len(listed(client)) == 1


def problem_of(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= body.keys()
    assert body["status"] == status
    return body


def test_partly_bad_batch_stores_the_valid_events(client: TestClient) -> None:
    batch = [ce("ok"), ce("nosubject", subject=None), ce("v", specversion="0.3"), {"id": "x"}]
    body = problem_of(send(client, batch, BATCH), 400)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "missing_customer"),
        (2, "invalid_specversion"),
        (3, "missing_source"),
    ]
    assert body["accepted"] == 1
    assert [e["id"] for e in listed(client)] == ["ok"]
    letters = client.get("/v1/events/rejected").json()["data"]
    assert {letter["format"] for letter in letters} == {"cloudevents"}


def test_conflict_is_409_problem(client: TestClient) -> None:
    assert send(client, ce("k"), SINGLE).status_code == 204
    body = problem_of(send(client, ce("k", data={"tokens": 11}), SINGLE), 409)
    assert body["errors"][0]["code"] == "conflict"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{oops", SINGLE, 400, "invalid_json"),
        (b"NaN", "application/json", 400, "invalid_json"),
        (b"[]", SINGLE, 400, "invalid_body"),
        (b"{}", BATCH, 400, "invalid_body"),
        (b"42", "application/json", 400, "invalid_body"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_request_level_problems(
    client: TestClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post(
        "/api/v1/events", content=content, headers={"content-type": content_type}
    )
    assert problem_of(response, status)["code"] == code


def test_empty_batch_is_204(client: TestClient) -> None:
    assert send(client, [], BATCH).status_code == 204


def test_auth_failure_is_a_401_problem(client: TestClient) -> None:
    response = client.post(
        "/api/v1/events", json=ce("a"), headers={"authorization": "Bearer wrong"}
    )
    assert problem_of(response, 401)["code"] == "invalid_api_key"


def test_replaying_a_cloudevent_dead_letter(client: TestClient) -> None:
    problem_of(send(client, ce("late", time="someday"), SINGLE), 400)
    [letter] = client.get("/v1/events/rejected").json()["data"]
    assert letter["source"] == "billing-svc"
    fixed = ce("late", time="2026-11-01T13:00:00Z")
    response = client.post(f"/v1/events/rejected/{letter['id']}/replay", json=fixed)
    assert response.status_code == 200, response.text
    assert [e["id"] for e in listed(client)] == ["late"]
