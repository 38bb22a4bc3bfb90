"""invalid_meter_value: events are checked against the tenant's meters for their type."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tallybook.domain.catalog.model import Aggregation, Meter, Plan
from tallybook.domain.errors import NotFound


class Meters:
    """A PlanReader with meters only (the ingest service reads nothing else)."""

    def __init__(self, *meters: Meter):
        self.meters = list(meters)

    def list_meters(self, tenant_id: str) -> list[Meter]:
        return self.meters if tenant_id == "default" else []

    def get_meter(self, tenant_id: str, key: str) -> Meter:
        raise NotFound(key)

    def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Plan:
        raise NotFound(key)


@pytest.fixture
def metered(client: TestClient, container: Container) -> TestClient:
    container.ingest.plans = Meters(
        Meter("tokens", "llm", Aggregation.SUM, value="usage.tokens"),
        Meter("peak", "gauge", Aggregation.MAX, value="gb"),
        Meter("users", "login", Aggregation.UNIQUE_COUNT, value="user"),
        Meter("calls", "llm", Aggregation.COUNT),
    )
    return client


def ev(event_type: str, properties: dict[str, Any], event_id: str = "e") -> dict[str, Any]:
    return {"id": event_id, "customer": "acme", "type": event_type, "properties": properties}


@pytest.mark.parametrize(
    ("event_type", "properties"),
    [
        ("llm", {"usage": {"tokens": 12}}),
        ("llm", {"usage": {"tokens": 1.5}}),
        ("llm", {"usage": {"tokens": "0.05"}}),
        ("llm", {"usage": {"tokens": "-3"}}),
        ("gauge", {"gb": 0}),
        ("login", {"user": "u_1"}),
        ("login", {"user": 17}),
        ("login", {}),  # unique_count: an event without the value counts nothing
        ("other", {"usage": "anything"}),  # no meter reads this type
    ],
)
def test_valid_meter_values(
    metered: TestClient, event_type: str, properties: dict[str, Any]
) -> None:
    result = metered.post("/v1/events", json=ev(event_type, properties)).json()
    assert result["accepted"] == 1, result


@pytest.mark.parametrize(
    ("event_type", "properties"),
    [
        ("llm", {}),  # sum without a value
        ("llm", {"usage": {"tokens": None}}),
        ("llm", {"usage": 5}),
        ("llm", {"usage": {"tokens": "12 tokens"}}),
        ("llm", {"usage": {"tokens": "1e5"}}),
        ("llm", {"usage": {"tokens": "\u0663"}}),  # an Arabic-Indic digit is no decimal here
        ("llm", {"usage": {"tokens": "1."}}),
        ("llm", {"usage": {"tokens": True}}),
        ("llm", {"usage": {"tokens": [1]}}),
        ("llm", {"usage": {"tokens": {"n": 1}}}),
        ("gauge", {"gb": "NaN"}),
        ("gauge", {"gb": "Infinity"}),
        ("login", {"user": {"id": 1}}),
        ("login", {"user": False}),
    ],
)
def test_invalid_meter_values(
    metered: TestClient, event_type: str, properties: dict[str, Any]
) -> None:
    result = metered.post("/v1/events", json=ev(event_type, properties)).json()
    assert [e["code"] for e in result["errors"]] == ["invalid_meter_value"], result
    assert result["accepted"] == 0


def test_cloudevents_data_is_checked_too(metered: TestClient) -> None:
    body = {"id": "c", "source": "s", "type": "gauge", "subject": "acme", "data": {"gb": "lots"}}
    response = metered.post("/api/v1/events", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_meter_value"


def test_the_real_catalog_is_consulted(client: TestClient, container: Container) -> None:
    """Wired through bootstrap: a meter applied to the catalog validates new events."""
    container.catalog.apply(
        "default",
        {
            "meters": [
                {"key": "tokens", "event_type": "llm", "aggregation": "sum", "value": "tokens"}
            ]
        },
    )
    result = client.post(
        "/v1/events", json=[ev("llm", {"tokens": 5}, "ok"), ev("llm", {"model": "x"}, "bad")]
    ).json()
    assert result["accepted"] == 1
    assert [(e["id"], e["code"]) for e in result["errors"]] == [("bad", "invalid_meter_value")]
