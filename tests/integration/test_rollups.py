"""Incremental rollups == raw aggregation, on both stores.

A Hypothesis stream of events (late ones, duplicates, values of every kind, dimension
values the rollup cannot place exactly) is ingested in random batches, partly before the
meters' rollups exist (the backfill) and partly after (the ingest transaction); then live
usage (``LiveUsage``, rollups) and raw usage (``UsageService``) must agree for periods that
start at local midnights of whole-hour, half-hour and 45-minute time zones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tallybook.adapters.store.schema_rollups import alert_pending, rollup_defs, usage_rollups
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.metering.rollups import rollup_def
from tallybook.services.usage_live import LiveUsage
from tests.conftest import TEST_KEY

BASE = datetime(2026, 1, 10, tzinfo=UTC)
ZONES = ("UTC", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "Europe/Berlin")
CUSTOMERS = ("acme", "globex", "initech")
_runs = itertools.count()

VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.sampled_from([0.1, 2.5, 1e-7, 123.456, -0.5, "0.05", "-1.5e3", "10", "abc", True]),
    st.none(),
)
REGIONS = st.sampled_from(["eu", "us", "ap", 5, True, None, 1.5, {"x": 1}, "MISSING"])
TIERS = st.sampled_from([1, "1", True, "2", "MISSING"])


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 40))
    result = []
    for index in range(count):
        props: dict[str, Any] = {}
        for name, strategy in (("v", VALUES), ("region", REGIONS), ("tier", TIERS)):
            value = draw(strategy)
            if value != "MISSING":
                props[name] = value
        minutes = draw(st.integers(0, 6 * 24 * 60))  # six days from BASE, any order
        result.append(
            {
                "id": f"e{index}",
                "customer": draw(st.sampled_from(CUSTOMERS)),
                "timestamp": (BASE + timedelta(minutes=minutes, seconds=17)).isoformat(),
                "properties": props,
            }
        )
    return result


def meters(event_type: str, run: int) -> list[Meter]:
    return [
        Meter(f"sum{run}", event_type, Aggregation.SUM, value="v", group_by=("region",)),
        Meter(f"count{run}", event_type, Aggregation.COUNT, filter={"region": ("eu", "us", "5")}),
        Meter(f"max{run}", event_type, Aggregation.MAX, value="v", group_by=("tier",)),
        Meter(f"min{run}", event_type, Aggregation.MIN, value="v", filter={"tier": ("1", "true")}),
    ]


def catalog_document(found: list[Meter]) -> dict[str, Any]:
    return {
        "meters": [
            {
                "key": m.key,
                "event_type": m.event_type,
                "aggregation": m.aggregation.value,
                **({"value": m.value} if m.value else {}),
                **({"filter": {k: list(v) for k, v in m.filter.items()}} if m.filter else {}),
                **({"group_by": list(m.group_by)} if m.group_by else {}),
            }
            for m in found
        ]
    }


@pytest.fixture
def live(container: Container) -> Iterator[Container]:
    container.ingest.plans = None  # store every value: invalid ones must be skipped alike
    yield container


def compare(container: Container, meter: Meter, start: datetime, end: datetime) -> None:
    live = container.live_usage
    raw = container.usage
    for customers in (None, ["acme"], ["globex", "initech", "nobody"]):
        group_options: list[str | None] = [None, *meter.group_by]
        for group_by in group_options:
            got = dict(
                live.aggregate("default", meter, start, end, customers=customers, group_by=group_by)
            )
            want = dict(
                raw.aggregate("default", meter, start, end, customers=customers, group_by=group_by)
            )
            assert got == want, (meter.key, start, end, customers, group_by)


@settings(
    max_examples=25,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream=streams(),
    cut=st.integers(0, 40),
    order=st.randoms(use_true_random=False),
    duplicates=st.integers(0, 5),
    periods=st.lists(
        st.tuples(st.sampled_from(ZONES), st.integers(-1, 6), st.integers(1, 4)),
        min_size=1,
        max_size=3,
    ),
)
def test_rollups_equal_raw_aggregation(
    live: Container,
    stream: list[dict[str, Any]],
    cut: int,
    order: Any,
    duplicates: int,
    periods: list[tuple[str, int, int]],
) -> None:
    run = next(_runs)
    event_type = f"ev{run}"
    for event in stream:
        event["type"] = event_type
    found = meters(event_type, run)
    live.catalog.apply("default", catalog_document(found))
    order.shuffle(stream)  # late events: any time order
    before, after = stream[:cut], stream[cut:]
    after = after + stream[:duplicates]  # duplicates never count twice
    for part in (before,):
        for batch in _batches(part, order):
            live.ingest.ingest("default", batch)
    for m in found:  # the first read stores the definitions and backfills them
        compare(live, m, BASE - timedelta(days=1), BASE + timedelta(days=7))
    for batch in _batches(after, order):  # now the ingest transaction rolls up
        live.ingest.ingest("default", batch)
    for zone, day, days in periods:
        local = datetime.combine((BASE + timedelta(days=day)).date(), datetime.min.time())
        start = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        end = (local + timedelta(days=days)).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        for m in found:
            compare(live, m, start, end)


def _batches(items: list[dict[str, Any]], order: Any) -> Iterator[list[dict[str, Any]]]:
    position = 0
    while position < len(items):
        size = order.randint(1, 8)
        yield items[position : position + size]
        position += size


def test_kolkata_edge_hours_come_from_raw_events(live: Container) -> None:
    """A period starting at Kolkata midnight (18:30 UTC) counts the events of its first
    half hour and none of the half hour before, though both share one UTC hour's cell."""
    meter = Meter("calls", "call", Aggregation.COUNT)
    live.catalog.apply("default", catalog_document([meter]))
    zone = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 1, 12, tzinfo=zone).astimezone(UTC)  # 2026-01-11T18:30Z
    end = datetime(2026, 1, 13, tzinfo=zone).astimezone(UTC)
    stamps = [start - timedelta(minutes=10), start + timedelta(minutes=10), end - timedelta(1e-3)]
    stamps += [end + timedelta(minutes=5), start + timedelta(hours=5)]
    live.live_usage.aggregate("default", meter, start, end)  # store the definition first
    events = [
        {"id": f"k{i}", "customer": "acme", "type": "call", "timestamp": s.isoformat()}
        for i, s in enumerate(stamps)
    ]
    live.ingest.ingest("default", events)
    got = live.live_usage.aggregate("default", meter, start, end)
    assert dict(got) == dict(live.usage.aggregate("default", meter, start, end))
    assert [v for v in got.values()] == [Decimal(3)]
    hours = _cell_hours(live, meter)
    assert datetime(2026, 1, 11, 18, tzinfo=UTC) in hours  # the shared edge hour


def _cell_hours(container: Container, meter: Meter) -> set[datetime]:
    fingerprint = rollup_def(meter).fingerprint
    with container.engine.connect() as conn:
        rows = conn.execute(
            select(usage_rollups.c.hour).where(usage_rollups.c.fingerprint == fingerprint)
        ).scalars()
        return {datetime.fromtimestamp(h / 1e6, UTC) for h in rows}


def test_ingest_writes_cells_and_alert_marks_in_its_transaction(live: Container) -> None:
    meter = Meter("tokens", "llm", Aggregation.SUM, value="t")
    live.catalog.apply("default", catalog_document([meter]))
    live.live_usage.aggregate("default", meter, BASE, BASE + timedelta(days=1))
    stamp = (BASE + timedelta(minutes=3)).isoformat()
    batch = [
        {"id": "a", "customer": "acme", "type": "llm", "timestamp": stamp, "properties": {"t": 5}},
        {"id": "b", "customer": "acme", "type": "llm", "timestamp": stamp, "properties": {"t": 7}},
    ]
    live.ingest.ingest("default", batch)
    live.ingest.ingest("default", batch)  # duplicates: no change
    with live.engine.connect() as conn:
        total = conn.execute(select(usage_rollups.c.sum, usage_rollups.c.count)).one()
        marks = conn.execute(select(func.count()).select_from(alert_pending)).scalar_one()
    assert (Decimal(total[0]), total[1]) == (Decimal(12), 2)
    assert marks == 1  # the duplicate batch inserted nothing, so marked nothing


def test_dead_letter_replay_is_rolled_up(live: Container) -> None:
    meter = Meter("tokens", "llm", Aggregation.SUM, value="t")
    live.catalog.apply("default", catalog_document([meter]))
    live.ingest.plans = live.catalog  # validate values: "x" is dead-lettered
    window = (BASE, BASE + timedelta(days=1))
    live.live_usage.aggregate("default", meter, *window)
    stamp = (BASE + timedelta(hours=2)).isoformat()
    bad = {
        "id": "r",
        "customer": "acme",
        "type": "llm",
        "timestamp": stamp,
        "properties": {"t": "x"},
    }
    result = live.ingest.ingest("default", [bad])
    assert result.rejected == 1
    letter = live.dead_letters.list("default", limit=10).items[0]
    corrected = {**bad, "properties": {"t": "2.5"}}
    live.dead_letters.replay("default", letter.id, corrected)
    assert dict(live.live_usage.aggregate("default", meter, *window)) == {
        k: Decimal("2.5") for k in live.usage.aggregate("default", meter, *window)
    }
    assert len(_cell_hours(live, meter)) == 1


def test_a_changed_meter_gets_a_new_rollup_and_the_old_one_is_dropped(live: Container) -> None:
    old = Meter("tokens", "llm", Aggregation.SUM, value="t")
    new = Meter("tokens", "llm", Aggregation.SUM, value="t", filter={"r": ("eu",)})
    live.catalog.apply("default", catalog_document([old]))
    window = (BASE, BASE + timedelta(days=1))
    stamp = (BASE + timedelta(hours=2)).isoformat()
    live.ingest.ingest(
        "default",
        [
            {"id": "1", "customer": "a", "type": "llm", "timestamp": stamp, "properties": {"t": 1}},
            {
                "id": "2",
                "customer": "a",
                "type": "llm",
                "timestamp": stamp,
                "properties": {"t": 2, "r": "eu"},
            },
        ],
    )
    assert list(live.live_usage.aggregate("default", old, *window).values()) == [Decimal(3)]
    live.catalog.apply("default", catalog_document([new]))
    assert list(live.live_usage.aggregate("default", new, *window).values()) == [Decimal(2)]
    with live.engine.connect() as conn:
        stored = set(conn.execute(select(rollup_defs.c.fingerprint)).scalars())
    assert stored == {rollup_def(new).fingerprint}


NOW = datetime(2026, 1, 16, 9, 45, tzinfo=UTC)
PLAN: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "api_call", "aggregation": "sum", "value": "n"}],
    "plans": [
        {
            "key": "growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "20.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "calls",
                    "included": 100,
                    "model": "per_unit",
                    "unit_amount": "0.01",
                },
            ],
        }
    ],
}


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "UTC"])
def test_usage_endpoint_is_the_same_with_rollups_off(settings: Settings, zone: str) -> None:
    """GET /v1/customers/{id}/usage from rollups equals the raw answer (a second server on
    the same database with TALLYBOOK_LIVE_ROLLUPS=false), for a customer whose period
    starts at a half-hour UTC offset."""
    from fastapi.testclient import TestClient

    from tallybook.adapters.clock import FixedClock
    from tallybook.api.app import create_app

    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    bodies = []
    for live_rollups in (True, False):
        container = build(
            settings.model_copy(update={"live_rollups": live_rollups}), clock=FixedClock(NOW)
        )
        assert isinstance(container.live_usage, LiveUsage) is live_rollups
        container.tenants.bootstrap_default(TEST_KEY)
        try:
            with TestClient(create_app(container=container), headers=headers) as api:
                if live_rollups:
                    _subscribe(api, zone)
                bodies.append(api.get("/v1/customers/acme/usage").json())
                if live_rollups:
                    _send(api)
                    bodies[-1] = api.get("/v1/customers/acme/usage").json()
                    cells = container.engine.connect()
                    with cells:
                        count = select(func.count()).select_from(usage_rollups)
                        assert cells.execute(count).scalar_one() > 0
        finally:
            container.close()
    live_body, raw_body = bodies
    assert live_body == raw_body
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone))
    counted = sum(i % 7 for i in range(60) if _stamp(i) >= start)
    assert Decimal(live_body["charges"][0]["used"]) == counted


def _stamp(i: int) -> datetime:
    return datetime(2025, 12, 31, 18, 0, tzinfo=UTC) + timedelta(minutes=23 * i)


def _send(api: Any) -> None:
    events = [
        {
            "id": f"u{i}",
            "customer": "acme",
            "type": "api_call",
            "timestamp": _stamp(i).isoformat(),
            "properties": {"n": i % 7},
        }
        for i in range(60)
    ]
    response = api.post("/v1/events", json=events)
    assert response.status_code == 200, response.text


def _subscribe(api: Any, zone: str) -> None:
    assert api.put("/v1/catalog", json=PLAN).status_code == 200
    customer = {"id": "acme", "currency": "USD", "timezone": zone}
    assert api.post("/v1/customers", json=customer).status_code == 201
    sub = {"customer": "acme", "plan": "growth", "start": "2025-12-01T00:00:00Z"}
    response = api.post("/v1/subscriptions", json=sub)
    assert response.status_code == 201, response.text
