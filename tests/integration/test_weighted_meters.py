"""Weighted (multi-source) meters on both stores: SQL pushdown against the pure rule,
ingest validation of every source's events, the usage endpoint and catalog refusals."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from tallybook.adapters.store.schema_events import events
from tallybook.bootstrap import Container
from tallybook.domain.catalog.model import Aggregation, Meter, MeterSource
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import WindowSize, weighted_value
from tallybook.services.ports import UsageKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
_ids = itertools.count()

AI_CREDITS = Meter(
    "ai_credits",
    None,
    Aggregation.SUM,
    group_by=("region",),
    sources=(
        MeterSource("llm", value="tokens", multiplier=Decimal("0.001")),
        MeterSource("image", multiplier=Decimal(5)),
        MeterSource("llm", multiplier=Decimal("0.5"), filter={"model": ("big",)}),
        MeterSource("search", value="pages", multiplier=Decimal("0.25")),
    ),
)


def store(
    container: Container, customer: str, when: datetime, type: str, properties: dict[str, Any]
) -> None:
    with container.engine.begin() as conn:
        conn.execute(
            insert(events).values(
                tenant_id="default",
                source="",
                id=f"evt_{next(_ids):06d}",
                customer=customer,
                type=type,
                ts=when,
                properties=properties,
                received_at=when,
                body_hash="0" * 32,
            )
        )


def test_weighted_sum_is_exact_and_counts_an_event_for_every_source_it_matches(
    container: Container,
) -> None:
    rows = [
        ("acme", "llm", {"tokens": 1200, "model": "big", "region": "eu"}),  # 1.2 + 0.5
        ("acme", "llm", {"tokens": "0.1", "model": "small", "region": "eu"}),  # 0.0001
        ("acme", "image", {"region": "us"}),  # 5
        ("acme", "search", {"pages": 3, "region": "eu"}),  # 0.75
        ("acme", "search", {"pages": "oops", "region": "eu"}),  # skipped value: 0
        ("acme", "other", {"tokens": 999}),  # not a source type
        ("bolt", "image", {}),  # 5
        ("bolt", "llm", {"tokens": 9223372036854775807}),  # 9223372036854775.807
    ]
    for customer, type_, props in rows:
        store(container, customer, T0 + timedelta(hours=1), type_, props)
    store(container, "acme", T1, "image", {})  # at the end: outside
    got = dict(container.usage.aggregate("default", AI_CREDITS, T0, T1))
    assert got == {
        UsageKey("acme", None): Decimal("7.4501"),
        UsageKey("bolt", None): Decimal("9223372036854780.807"),
    }
    grouped = dict(container.usage.aggregate("default", AI_CREDITS, T0, T1, group_by="region"))
    assert grouped[UsageKey("acme", "eu")] == Decimal("2.4501")
    assert grouped[UsageKey("acme", "us")] == Decimal(5)


def test_sql_pushdown_agrees_with_the_pure_rule(container: Container) -> None:
    rnd = random.Random(7)
    expected: dict[str, Decimal] = {}
    for n in range(300):
        customer = rnd.choice(["a", "b", "c"])
        type_ = rnd.choice(["llm", "image", "search", "noise"])
        props: dict[str, Any] = {
            "tokens": rnd.choice([rnd.randint(0, 10**6), f"{rnd.randint(0, 999)}.{n}", None]),
            "pages": rnd.choice([rnd.randint(0, 50), "1.5", True]),
            "model": rnd.choice(["big", "small"]),
        }
        when = T0 + timedelta(minutes=rnd.randint(0, 60 * 24 * 40))
        store(container, customer, when, type_, props)
        if T0 <= when < T1:
            add = weighted_value(AI_CREDITS.sources, type_, props)
            expected[customer] = expected.get(customer, Decimal(0)) + add
    got = container.usage.aggregate("default", AI_CREDITS, T0, T1)
    assert {key.customer: value for key, value in got.items()} == {
        c: v for c, v in expected.items()
    }


def test_windowed_report_of_a_weighted_meter(container: Container) -> None:
    store(container, "acme", T0 + timedelta(days=1), "image", {})
    store(container, "acme", T0 + timedelta(days=2), "llm", {"tokens": 2000, "model": "big"})
    container.catalog.apply(
        "default",
        {
            "meters": [
                {
                    "key": "ai_credits",
                    "aggregation": "sum",
                    "sources": [
                        {"event_type": "image", "multiplier": 5},
                        {"event_type": "llm", "value": "tokens", "multiplier": "0.001"},
                    ],
                }
            ]
        },
    )
    report = container.usage.report(
        "default", "ai_credits", T0, T0 + timedelta(days=3), window=None, customers=["acme"]
    )
    assert report.series[0].total == Decimal("7.000")
    daily = container.usage.report(
        "default",
        "ai_credits",
        T0,
        T0 + timedelta(days=3),
        window=WindowSize.DAY,
        customers=["acme"],
    )
    assert [value for _, value in daily.series[0].values] == [0, 5, 2]
    assert daily.series[0].total == 7


def test_a_weighted_meter_has_no_per_event_values(container: Container) -> None:
    with pytest.raises(ValidationError) as caught:
        container.usage.event_values("default", AI_CREDITS, "acme", T0, T1)
    assert caught.value.code == "unsupported_rating"


CATALOG = {
    "meters": [
        {
            "key": "ai_credits",
            "aggregation": "sum",
            "name": "AI credits",
            "sources": [
                {"event_type": "llm_call", "value": "tokens", "multiplier": "0.002"},
                {"event_type": "image_gen", "multiplier": 4},
                {"event_type": "embedding", "value": "chars", "multiplier": "0.0001"},
            ],
        }
    ]
}


def test_ingest_checks_every_source_type_and_the_usage_endpoint_shows_the_meter(
    client: TestClient,
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    sent = [
        {
            "id": "e1",
            "customer": "acme",
            "type": "llm_call",
            "timestamp": "2026-01-02T00:00:00Z",
            "properties": {"tokens": 1000},
        },
        {"id": "e2", "customer": "acme", "type": "image_gen", "timestamp": "2026-01-02T00:00:00Z"},
        {
            "id": "e3",
            "customer": "acme",
            "type": "embedding",
            "timestamp": "2026-01-02T00:00:00Z",
            "properties": {"chars": "5000"},
        },
        {
            "id": "e4",
            "customer": "acme",
            "type": "embedding",
            "timestamp": "2026-01-02T00:00:00Z",
            "properties": {"chars": "many"},
        },
        {
            "id": "e5",
            "customer": "acme",
            "type": "llm_call",
            "timestamp": "2026-01-02T00:00:00Z",
            "properties": {},
        },
    ]
    answer = client.post("/v1/events", json=sent).json()
    assert answer["accepted"] == 3
    assert sorted((e["id"], e["code"]) for e in answer["errors"]) == [
        ("e4", "invalid_meter_value"),
        ("e5", "invalid_meter_value"),
    ]
    usage = client.get(
        "/v1/meters/ai_credits/usage",
        params={"customer": "acme", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
    )
    assert usage.status_code == 200, usage.text
    body = usage.json()
    assert body["aggregation"] == "sum"
    assert body["total"] == "6.5"  # 1000 x 0.002 + 1 x 4 + 5000 x 0.0001
    meter = client.get("/v1/meters/ai_credits").json()
    assert meter["sources"][1] == {"event_type": "image_gen", "multiplier": "4"}
    assert "event_type" not in meter


def _issues(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_catalog"
    return [(i["location"], i["message"]) for i in error["details"]["issues"]]


@pytest.mark.parametrize(
    ("meter", "location", "words"),
    [
        (
            {"sources": [{"event_type": "a", "weight": 2}]},
            "meters[0].sources[0].weight",
            "unknown field",
        ),
        (
            {"event_type": "a", "sources": [{"event_type": "b"}]},
            "meters[0].event_type",
            "not both",
        ),
        (
            {"sources": [{"event_type": "a", "multiplier": 0}]},
            "meters[0].sources[0].multiplier",
            "greater than 0",
        ),
        (
            {"sources": [{"event_type": "a", "multiplier": "-1"}]},
            "meters[0].sources[0].multiplier",
            "greater than 0",
        ),
        (
            {"sources": [{"event_type": "a", "value": "n"}, {"event_type": "a", "value": "n"}]},
            "meters[0].sources[1]",
            "duplicate source",
        ),
        (
            {"aggregation": "max", "sources": [{"event_type": "a", "value": "n"}]},
            "meters[0].aggregation",
            "must aggregate with sum",
        ),
        ({"sources": []}, "meters[0].sources", "at least one source"),
        ({}, "meters[0].event_type", "needs event_type, or"),
        (
            {"value": "n", "sources": [{"event_type": "a"}]},
            "meters[0].value",
            "on each source",
        ),
    ],
)
def test_the_catalog_refuses_a_bad_source(
    client: TestClient, meter: dict[str, Any], location: str, words: str
) -> None:
    document = {"meters": [{"key": "w", "aggregation": "sum", **meter}]}
    issues = _issues(client.put("/v1/catalog", json=document))
    assert any(where == location and words in what for where, what in issues), issues


def test_the_catalog_refuses_per_event_pricing_on_a_weighted_meter(client: TestClient) -> None:
    document = {
        **CATALOG,
        "plans": [
            {
                "key": "p",
                "currency": "USD",
                "interval": "month",
                "charges": [
                    {
                        "key": "c",
                        "type": "usage",
                        "meter": "ai_credits",
                        "model": "percentage",
                        "rate": "1",
                    }
                ],
            }
        ],
    }
    issues = _issues(client.put("/v1/catalog", json=document))
    assert issues == [
        (
            "plans[0].charges[0].model",
            "meter 'ai_credits' has sources: its events have no single value for the "
            "percentage model to price",
        )
    ]


def test_a_weighted_meter_through_the_meters_endpoint(client: TestClient) -> None:
    body = CATALOG["meters"][0]
    created = client.post("/v1/meters", json=body)
    assert created.status_code in (200, 201), created.text
    assert created.json()["sources"][0] == {
        "event_type": "llm_call",
        "value": "tokens",
        "multiplier": "0.002",
    }
    listed = client.get("/v1/meters").json()["data"]
    assert [m["key"] for m in listed] == ["ai_credits"]
    bad = client.post("/v1/meters", json={**body, "aggregation": "latest"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_catalog"


def test_a_report_filter_narrows_every_source(container: Container) -> None:
    container.catalog.apply(
        "default",
        {
            "meters": [
                {
                    "key": "w",
                    "aggregation": "sum",
                    "group_by": ["region"],
                    "sources": [
                        {"event_type": "image", "multiplier": 5},
                        {"event_type": "llm", "value": "tokens", "filter": {"model": "big"}},
                    ],
                }
            ]
        },
    )
    store(container, "acme", T0, "image", {"region": "eu"})
    store(container, "acme", T0, "image", {"region": "us"})
    store(container, "acme", T0, "llm", {"region": "eu", "tokens": 7, "model": "big"})
    store(container, "acme", T0, "llm", {"region": "eu", "tokens": 100, "model": "small"})
    report = container.usage.report(
        "default", "w", T0, T1, customers=["acme"], filters={"region": ["eu"]}
    )
    assert report.series[0].total == Decimal(12)  # 5 + 7: the us image and small model out


def test_a_source_sum_past_64_bits_stays_exact(container: Container) -> None:
    big = 9223372036854775807
    for _ in range(3):
        store(container, "acme", T0, "search", {"pages": big})
    store(container, "acme", T0, "search", {"pages": "0.5"})
    store(container, "acme", T0, "image", {})
    got = container.usage.aggregate("default", AI_CREDITS, T0, T1)
    assert got[UsageKey("acme", None)] == Decimal(3 * big + Decimal("0.5")) * Decimal(
        "0.25"
    ) + Decimal(5)
