"""``/v1/meters`` and the usage endpoints (native and OpenMeter) through the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.integration.test_usage import store

METERS = {
    "meters": [
        {"key": "calls", "event_type": "api_call", "aggregation": "count"},
        {
            "key": "tokens",
            "event_type": "llm",
            "aggregation": "sum",
            "value": "usage.tokens",
            "group_by": ["model"],
        },
    ]
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def loaded(client: TestClient, container: Container) -> Iterator[TestClient]:
    assert client.put("/v1/catalog", json=METERS).status_code == 200
    for when, tokens, model in [
        ("2026-01-01T10:00:00Z", "0.1", "a"),
        ("2026-01-01T11:00:00Z", 0.2, "b"),
        ("2026-01-02T10:00:00Z", 3, "a"),
        ("2026-01-03T00:00:00Z", 100, "a"),  # exactly at `to`: excluded
    ]:
        store(container, "acme", ts(when), {"usage": {"tokens": tokens}, "model": model})
    store(container, "bolt", ts("2026-01-01T12:00:00Z"), {"usage": {"tokens": 5}, "model": "a"})
    yield client


def test_meter_crud(client: TestClient) -> None:
    meter = {"key": "calls", "event_type": "api_call", "aggregation": "count"}
    created = client.post("/v1/meters", json=meter)
    assert created.status_code == 201
    assert created.json()["key"] == "calls"
    assert created.json()["change"]["action"] == "created"
    same = client.post("/v1/meters", json=meter)
    assert (same.status_code, same.json()["change"]["action"]) == (200, "unchanged")
    assert client.get("/v1/meters/calls").json() == meter
    assert [m["key"] for m in client.get("/v1/meters").json()["data"]] == ["calls"]
    bad = client.post("/v1/meters", json={"key": "x", "event_type": "e", "aggregation": "avg"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_catalog"
    assert bad.json()["error"]["details"]["issues"][0]["location"] == "aggregation"
    missing = client.get("/v1/meters/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "meter_not_found")


def test_usage_per_day_with_a_total(loaded: TestClient) -> None:
    body = loaded.get(
        "/v1/meters/tokens/usage",
        params={"customer": "acme", "from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z", "window": "day"},
    ).json()  # fmt: skip
    assert body["data"] == [
        {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-02T00:00:00Z", "value": "0.3", "customer": "acme"},
        {"window_start": "2026-01-02T00:00:00Z", "window_end": "2026-01-03T00:00:00Z", "value": "3", "customer": "acme"},
    ]  # fmt: skip
    assert body["total"] == "3.3"
    assert (body["meter"], body["aggregation"], body["window"], body["tz"]) == (
        "tokens",
        "sum",
        "day",
        "UTC",
    )


def test_usage_in_a_time_zone_grouped_for_all_customers(loaded: TestClient) -> None:
    body = loaded.get(
        "/v1/meters/tokens/usage",
        params={"from": "2026-01-01T08:00:00Z", "to": "2026-01-03T08:00:00Z", "window": "day",
                "tz": "America/Los_Angeles", "group_by": "model"},
    ).json()  # fmt: skip
    rows = [
        (r["customer"], r["group"]["model"], r["window_start"], r["value"]) for r in body["data"]
    ]
    assert rows == [
        ("acme", "a", "2026-01-01T08:00:00Z", "0.1"),
        ("acme", "a", "2026-01-02T08:00:00Z", "103"),
        ("acme", "b", "2026-01-01T08:00:00Z", "0.2"),
        ("acme", "b", "2026-01-02T08:00:00Z", "0"),  # every series gets every window
        ("bolt", "a", "2026-01-01T08:00:00Z", "5"),
        ("bolt", "a", "2026-01-02T08:00:00Z", "0"),
    ]
    assert "total" not in body
    assert len(body["totals"]) == 3


def test_usage_errors_are_coded(loaded: TestClient) -> None:
    base = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    cases = [
        ("tokens", {**base, "window": "week"}, 422, "invalid_window"),
        ("tokens", {**base, "tz": "Mars/Base"}, 422, "invalid_timezone"),
        ("tokens", {**base, "from": "2026-01-03T00:00:00Z"}, 422, "invalid_range"),
        ("tokens", {**base, "from": "yesterday"}, 422, "invalid_instant"),
        ("tokens", {**base, "from": "2026-01-01T00:00:00"}, 422, "invalid_instant"),
        ("tokens", {**base, "group_by": "region"}, 422, "invalid_group_by"),
        ("tokens", {"to": base["to"]}, 422, "invalid_request"),
        ("tokens", {**base, "from": "2025-01-01T00:00:00Z", "window": "minute"}, 422, "too_many_windows"),
        ("ghost", base, 404, "meter_not_found"),
    ]  # fmt: skip
    for key, params, status, code in cases:
        response = loaded.get(f"/v1/meters/{key}/usage", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["code"] == code


def test_tenant_isolation(loaded: TestClient, container: Container) -> None:
    other = {"authorization": f"Bearer {container.tenants.create_key('acme-corp', 'k').key}"}
    params = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}
    assert loaded.get("/v1/meters", headers=other).json()["data"] == []
    response = loaded.get("/v1/meters/tokens/usage", params=params, headers=other)
    assert response.status_code == 404
    loaded.put("/v1/catalog", json=METERS, headers=other)
    body = loaded.get("/v1/meters/tokens/usage", params=params, headers=other).json()
    assert body["data"] == [] and body["totals"] == []
    om = loaded.get("/api/v1/meters/tokens/query", params=params, headers=other).json()
    assert om["data"] == []


def test_openmeter_query_shape(loaded: TestClient) -> None:
    response = loaded.get(
        "/api/v1/meters/tokens/query",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z", "windowSize": "DAY",
                "subject": "acme", "groupBy": "model"},
    )  # fmt: skip
    assert response.status_code == 200
    assert b'"value":0.1,' in response.content  # a JSON number written from the exact decimal
    body = response.json()
    assert body["from"] == "2026-01-01T00:00:00Z" and body["windowSize"] == "DAY"
    assert body["data"][0] == {
        "value": 0.1,
        "windowStart": "2026-01-01T00:00:00Z",
        "windowEnd": "2026-01-02T00:00:00Z",
        "subject": "acme",
        "groupBy": {"model": "a"},
    }
    assert len(body["data"]) == 3  # empty windows are left out


def test_openmeter_errors_are_problems(loaded: TestClient) -> None:
    bad = loaded.get("/api/v1/meters/tokens/query", params={"windowSize": "WEEK"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["code"] == "invalid_window"
    assert loaded.get("/api/v1/meters/ghost/query").status_code == 404


def test_openmeter_group_filters(loaded: TestClient) -> None:
    base = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}
    deep = loaded.get("/api/v1/meters/tokens/query", params={**base, "filterGroupBy[model]": "b"})
    assert [r["value"] for r in deep.json()["data"]] == [0.2]
    as_json = loaded.get(
        "/api/v1/meters/tokens/query", params={**base, "filterGroupBy": '{"model": "b"}'}
    )
    assert [r["value"] for r in as_json.json()["data"]] == [0.2]
    bad = loaded.get("/api/v1/meters/tokens/query", params={**base, "filterGroupBy": "[1]"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_filter")


def test_nul_characters_match_nothing_and_are_never_stored(loaded: TestClient) -> None:
    month = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    assert loaded.get("/v1/meters/tok%00ens").status_code == 404
    assert loaded.get("/v1/plans/p%00/versions").status_code == 404
    usage = loaded.get("/v1/meters/tokens/usage", params={**month, "customer": "acme\x00"})
    assert usage.status_code == 200 and usage.json()["total"] == "0"
    mixed = loaded.get("/v1/meters/tokens/usage", params={**month, "customer": ["acme", "x\x00"]})
    assert {row["customer"] for row in mixed.json()["data"]} == {"acme"}
    query = loaded.get("/api/v1/meters/tokens/query", params={"filterGroupBy[mo\x00del]": "a"})
    assert query.status_code == 200 and query.json()["data"] == []
    bad = loaded.put(
        "/v1/catalog",
        json={"meters": [{"key": "m", "event_type": "l\x00", "aggregation": "count"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["issues"] == [
        {"location": "meters[0].event_type", "message": "text must not contain NUL characters"}
    ]
