"""Usage aggregation pushed to SQL on both stores: every aggregation, exactness, windows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert

from tallybook.adapters.store.schema_events import events
from tallybook.bootstrap import Container
from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.metering.meters import WindowSize
from tallybook.services.ports import UsageKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
_ids = itertools.count()


def store(
    container: Container,
    customer: str,
    when: datetime,
    properties: dict[str, Any],
    *,
    type: str = "llm",
    tenant: str = "default",
) -> None:
    with container.engine.begin() as conn:
        conn.execute(
            insert(events).values(
                tenant_id=tenant,
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


def meter(aggregation: Aggregation, **kwargs: Any) -> Meter:
    value = None if aggregation is Aggregation.COUNT else kwargs.pop("value", "tokens")
    return Meter("m", kwargs.pop("event_type", "llm"), aggregation, value=value, **kwargs)


def agg(container: Container, m: Meter, **kwargs: Any) -> dict[UsageKey, Decimal]:
    return dict(container.usage.aggregate("default", m, T0, T1, **kwargs))


@pytest.fixture
def sample(container: Container) -> Iterator[Container]:
    day = timedelta(days=1)
    rows = [
        ("acme", T0, {"tokens": 5, "model": "a", "region": "eu"}),
        ("acme", T0 + day, {"tokens": "2.5", "model": "b", "region": "us"}),
        ("acme", T0 + 2 * day, {"tokens": 7, "model": "a", "region": "ap"}),
        ("acme", T0 + 3 * day, {"tokens": "oops", "model": "a", "region": "eu"}),
        ("acme", T1, {"tokens": 1000, "model": "a", "region": "eu"}),  # at `end`: excluded
        ("acme", T0 - timedelta(microseconds=1), {"tokens": 1000}),  # before `start`
        ("bolt", T0 + day, {"tokens": 1, "model": "a", "region": "eu"}),
    ]
    for customer, when, props in rows:
        store(container, customer, when, props)
    store(container, "acme", T0 + day, {"tokens": 99}, type="other")
    store(container, "acme", T0 + day, {"tokens": 99}, tenant="someone_else")
    yield container


@pytest.mark.parametrize(
    ("aggregation", "acme", "bolt"),
    [
        (Aggregation.COUNT, "4", "1"),
        (Aggregation.SUM, "14.5", "1"),
        (Aggregation.MAX, "7", "1"),
        (Aggregation.MIN, "2.5", "1"),
        (Aggregation.UNIQUE_COUNT, "4", "1"),
        (Aggregation.LATEST, "7", "1"),
    ],
)
def test_every_aggregation_per_customer_over_a_half_open_window(
    sample: Container, aggregation: Aggregation, acme: str, bolt: str
) -> None:
    got = agg(sample, meter(aggregation))
    assert got == {UsageKey("acme"): Decimal(acme), UsageKey("bolt"): Decimal(bolt)}


def test_filters_and_group_by(sample: Container) -> None:
    filtered = meter(Aggregation.SUM, filter={"region": ("eu", "us")})
    assert agg(sample, filtered, customers=["acme"]) == {UsageKey("acme"): Decimal("7.5")}
    grouped = agg(sample, meter(Aggregation.SUM, group_by=("model",)), group_by="model")
    assert grouped == {
        UsageKey("acme", "a"): Decimal(12),
        UsageKey("acme", "b"): Decimal("2.5"),
        UsageKey("bolt", "a"): Decimal(1),
    }


def test_customer_selection(sample: Container) -> None:
    m = meter(Aggregation.COUNT)
    assert agg(sample, m, customers=["bolt", "nobody"]) == {UsageKey("bolt"): Decimal(1)}
    assert agg(sample, m, customers=[]) == {}


def test_nested_paths_and_decimal_strings(container: Container) -> None:
    store(container, "acme", T0, {"usage": {"tokens": "0.05"}})
    store(container, "acme", T0, {"usage": {"tokens": 0.1}})
    store(container, "acme", T0, {"usage": {"other": 1}})
    assert agg(container, meter(Aggregation.SUM, value="usage.tokens")) == {
        UsageKey("acme"): Decimal("0.15")
    }
    assert agg(container, meter(Aggregation.COUNT)) == {UsageKey("acme"): Decimal(3)}


def test_sums_are_exact(container: Container) -> None:
    store(container, "a", T0, {"tokens": 0.1})
    store(container, "a", T0, {"tokens": 0.2})
    store(container, "b", T0, {"tokens": 10**20})
    store(container, "b", T0, {"tokens": 1})
    store(container, "c", T0, {"tokens": 2**62})
    store(container, "c", T0, {"tokens": 2**62})  # overflows a 64-bit SQL sum
    got = agg(container, meter(Aggregation.SUM))
    assert got[UsageKey("a")] == Decimal("0.3")
    assert got[UsageKey("b")] == Decimal(10**20 + 1)
    assert got[UsageKey("c")] == Decimal(2**63)
    maxed = agg(container, meter(Aggregation.MAX))
    assert maxed[UsageKey("b")] == Decimal(10**20)


def test_invalid_values_are_skipped(container: Container) -> None:
    for value in (True, "abc", None, {"x": 1}, "1e99999"):
        store(container, "a", T0, {"tokens": value})
    store(container, "a", T0 + timedelta(hours=1), {"tokens": 3})
    store(container, "a", T0 + timedelta(hours=2), {"tokens": "nope"})
    assert agg(container, meter(Aggregation.SUM)) == {UsageKey("a"): Decimal(3)}
    assert agg(container, meter(Aggregation.LATEST)) == {UsageKey("a"): Decimal(3)}
    assert agg(container, meter(Aggregation.COUNT)) == {UsageKey("a"): Decimal(7)}


def test_unique_count_compares_values(container: Container) -> None:
    for value in ("u1", "u1", "u2", 1, 1.0, "1", True):
        store(container, "a", T0, {"user": value})
    m = meter(Aggregation.UNIQUE_COUNT, value="user")
    assert agg(container, m) == {UsageKey("a"): Decimal(5)}  # u1, u2, 1, "1", true


def test_latest_breaks_ties_by_id(container: Container) -> None:
    store(container, "a", T0, {"tokens": 1})
    store(container, "a", T0, {"tokens": 2})
    assert agg(container, meter(Aggregation.LATEST)) == {UsageKey("a"): Decimal(2)}


def test_time_weighted_average_carries_the_last_value_in(container: Container) -> None:
    store(container, "a", T0 - timedelta(days=40), {"gb": 10})
    store(container, "a", T0 + timedelta(days=10), {"gb": 41})
    store(container, "b", T0 - timedelta(days=1), {"gb": 3})  # no event in the month
    got = agg(container, meter(Aggregation.TIME_WEIGHTED_AVERAGE, value="gb"))
    # 10 GB for 10 days then 41 GB for 21 days, averaged over 31 days
    assert got == {UsageKey("a"): Decimal(31), UsageKey("b"): Decimal(3)}


def test_event_values_for_the_percentage_model(sample: Container) -> None:
    values = sample.usage.event_values("default", meter(Aggregation.SUM), "acme", T0, T1)
    assert values == [Decimal(5), Decimal("2.5"), Decimal(7)]


# -- reports with windows --------------------------------------------------------------


def test_day_windows_in_los_angeles(container: Container) -> None:
    container.catalog.apply(
        "default", {"meters": [{"key": "calls", "event_type": "llm", "aggregation": "count"}]}
    )
    # 07:59Z is still the previous day in Los Angeles (UTC-8); 08:00Z is local midnight.
    for when in ("2026-01-02T07:59:00", "2026-01-02T08:00:00", "2026-01-03T07:00:00"):
        store(container, "acme", datetime.fromisoformat(when).replace(tzinfo=UTC), {})
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    report = container.usage.report(
        "default", "calls", start, start + timedelta(days=3),
        window=WindowSize.DAY, tz="America/Los_Angeles", customers=["acme"],
    )  # fmt: skip
    (series,) = report.series
    assert [(p.start.day, p.start.hour, v) for p, v in series.values] == [
        (1, 8, Decimal(1)),
        (2, 8, Decimal(2)),
        (3, 8, Decimal(0)),
    ]
    assert series.total == Decimal(3)


def test_hour_windows_fold_buckets_for_every_aggregation(container: Container) -> None:
    container.catalog.apply(
        "default",
        {"meters": [
            {"key": k, "event_type": "llm", "aggregation": k, "value": "tokens"}
            for k in ("sum", "max", "latest", "unique_count", "time_weighted_average")
        ]},
    )  # fmt: skip
    for minutes, tokens in ((0, 4), (30, 2), (60, 2), (150, 8)):
        store(container, "acme", T0 + timedelta(minutes=minutes), {"tokens": tokens})
    expected = {
        "sum": (["6", "2", "8"], "16"),
        "max": (["4", "2", "8"], "8"),
        "latest": (["2", "2", "8"], "8"),
        "unique_count": (["2", "1", "1"], "3"),
        "time_weighted_average": (["3", "2", "5"], "3.333333333333333333333333333"),
    }
    for key, (values, total) in expected.items():
        report = container.usage.report(
            "default", key, T0, T0 + timedelta(hours=3), window=WindowSize.HOUR, customers=["acme"]
        )
        (series,) = report.series
        assert [str(v) for _, v in series.values] == values, key
        assert str(series.total) == total, key


def test_report_errors_have_codes(sample: Container) -> None:
    sample.catalog.apply(
        "default", {"meters": [{"key": "c", "event_type": "llm", "aggregation": "count"}]}
    )
    with pytest.raises(NotFound) as missing:
        sample.usage.report("default", "nope", T0, T1)
    assert missing.value.code == "meter_not_found"
    for kwargs, code in [
        ({"group_by": ["model"]}, "invalid_group_by"),
        ({"tz": "Nowhere/Land"}, "invalid_timezone"),
    ]:
        with pytest.raises(ValidationError) as caught:
            sample.usage.report("default", "c", T0, T1, **kwargs)
        assert caught.value.code == code
    with pytest.raises(ValidationError) as caught:
        sample.usage.report("default", "c", T1, T0)
    assert caught.value.code == "invalid_range"
