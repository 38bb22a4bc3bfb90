"""One contract for every event store and usage reader: SQLite, PostgreSQL, and
PostgreSQL + ClickHouse (chDB in-process, events shipped through the outbox).

Events go in through the ingest service (so the ClickHouse variant ships them the way
production does) and every aggregate is checked against the pure reference,
``domain.metering.meters.aggregate``, to the last decimal: every aggregation, filters,
``group_by``, customer selections, windows in a time zone across a DST change, values
that ``Decimal256`` cannot hold, and a late event.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tallybook.adapters.clickhouse.usage import ClickHouseUsage
from tallybook.adapters.store.usage_sql import UsageSql
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter, MeterSource
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import (
    EXACT,
    WindowSize,
    aggregate,
    dimension_text,
    extract,
    reading,
    weighted_value,
)
from tallybook.services.ports import UsageKey, UsageSource
from tallybook.services.usage import UsageReport, UsageService
from tests.conftest import TEST_KEY

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 4, 1, tzinfo=UTC)
TENANT = "default"

# Values that stress exactness: JSON floats, decimal strings, 64-bit overflow, more
# decimals than Decimal256(20) holds, more integer digits than it sums, and invalid ones.
VALUES: list[Any] = [
    5,
    "2.5",
    0.1,
    0.2,
    "0.05",
    1.5,
    2.675,
    -3,
    2**62,
    "100000000000000000000",
    "0.1234567890123456789012345",
    "0.000000000000000000000001",
    "123456789012345678901234567890123456789012345",
    "1e45",
    "-7.25E-3",
    "oops",
    True,
    None,
    {"x": 1},
    [1, 2],
    "",
]
CUSTOMERS = ["acme", "bolt", "cora", "dyn"]
MODELS = ["a", "b", None, "c"]


def _events() -> list[dict[str, Any]]:
    """A fixed, varied set: every value for every customer, spread over Jan-Mar 2026
    (across the US DST change of 8 March), some missing the value or the model."""
    out: list[dict[str, Any]] = []
    step = timedelta(hours=7, minutes=13, seconds=17, microseconds=123)
    when = T0 - timedelta(days=2)  # some before the range (carry-in, exclusion)
    for n, (customer, value) in enumerate(itertools.product(CUSTOMERS, VALUES * 4)):
        props: dict[str, Any] = {"region": ["eu", "us", "ap"][n % 3]}
        if n % 11 != 0:
            props["tokens"] = value
        model = MODELS[n % len(MODELS)]
        if model is not None:
            props["model"] = model
        if n % 5 == 0:
            props["usage"] = {"tokens": value, "kind": "nested"}
        out.append(
            {
                "id": f"e{n:05d}",
                "customer": customer,
                "type": "llm" if n % 13 else "other",
                "timestamp": when.isoformat(),
                "properties": props,
            }
        )
        when += step
    return out


EVENTS = _events()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres+chdb", marks=pytest.mark.postgres),
        pytest.param("postgres+clickhouse", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    """A container on each store; ``ship(container)`` makes ingested events readable."""
    if request.param == "sqlite":
        url, events_url = f"sqlite:///{tmp_path / 'tb.db'}", None
    else:
        url = str(request.getfixturevalue("pg_url"))
        events_url = None
        if request.param == "postgres+chdb":
            events_url = str(request.getfixturevalue("chdb_url"))
        elif request.param == "postgres+clickhouse":
            events_url = _server_url()
    settings = Settings(
        database_url=url,
        events_url=events_url,
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
    )
    container = build(settings)
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


def _server_url() -> str:
    """A real ClickHouse server (``TALLYBOOK_TEST_CLICKHOUSE_URL``, optional, not in CI):
    a database of its own per test."""
    url = os.environ.get("TALLYBOOK_TEST_CLICKHOUSE_URL")
    if not url:
        pytest.skip("no ClickHouse server (set TALLYBOOK_TEST_CLICKHOUSE_URL=clickhouse://...)")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/t_{uuid.uuid4().hex[:12]}"))


def ship(container: Container) -> None:
    if container.shipper is not None:
        container.shipper.ship_all()


def ingest(container: Container, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 250):
        result = container.ingest.ingest(TENANT, items[start : start + 250])
        assert result.rejected == 0, result
    ship(container)


def expected(
    meter: Meter,
    start: datetime,
    end: datetime,
    *,
    group_by: str | None = None,
    customers: list[str] | None = None,
    events: list[dict[str, Any]] = EVENTS,
) -> dict[UsageKey, Decimal]:
    """The reference: ``meters.aggregate`` over the events, per customer (and group)."""
    readings: dict[UsageKey, list[Any]] = {}
    for e in events:
        if e["type"] != meter.event_type or (
            customers is not None and e["customer"] not in customers
        ):
            continue
        r = reading(meter, datetime.fromisoformat(e["timestamp"]), e["id"], e["properties"])
        if r is None:
            continue
        group = dimension_text(extract(e["properties"], group_by)) if group_by else None
        readings.setdefault(UsageKey(e["customer"], group), []).append(r)
    out = {}
    for key, rs in readings.items():
        if meter.aggregation is not Aggregation.TIME_WEIGHTED_AVERAGE and not any(
            start <= r.timestamp < end for r in rs
        ):
            continue
        value = aggregate(meter.aggregation, rs, start, end)
        if value is not None:
            out[key] = value
    return out


def usage_meter(aggregation: Aggregation, **kwargs: Any) -> Meter:
    value = kwargs.pop("value", "tokens")
    value = None if aggregation is Aggregation.COUNT else value
    return Meter("m", "llm", aggregation, value=value, **kwargs)


ALL = [a for a in Aggregation]


@pytest.fixture
def loaded(store: Container) -> Container:
    ingest(store, EVENTS)
    return store


@pytest.mark.parametrize("aggregation", ALL, ids=[a.value for a in ALL])
def test_every_aggregation_matches_the_reference(
    loaded: Container, aggregation: Aggregation
) -> None:
    m = usage_meter(aggregation)
    got = dict(loaded.usage.aggregate(TENANT, m, T0, T1))
    want = expected(m, T0, T1)
    if aggregation is Aggregation.TIME_WEIGHTED_AVERAGE:  # zero for series without events
        want = {k: v for k, v in want.items() if k in got or v != 0}
    assert got == want
    assert len(got) >= 3


@pytest.mark.parametrize("aggregation", ALL, ids=[a.value for a in ALL])
def test_nested_path_filter_group_by_and_customers(
    loaded: Container, aggregation: Aggregation
) -> None:
    m = usage_meter(
        aggregation,
        value=None if aggregation is Aggregation.COUNT else "usage.tokens",
        filter={"region": ("eu", "us"), "usage.kind": ("nested",)},
        group_by=("model",),
    )
    customers = ["acme", "cora", "nobody"]
    got = dict(loaded.usage.aggregate(TENANT, m, T0, T1, customers=customers, group_by="model"))
    want = expected(m, T0, T1, group_by="model", customers=customers)
    if aggregation is Aggregation.TIME_WEIGHTED_AVERAGE:
        want = {k: v for k, v in want.items() if k in got or v != 0}
    assert got == want
    assert {k.customer for k in got} <= {"acme", "cora"}


def test_sums_beyond_decimal256_are_exact(store: Container) -> None:
    values = [
        "1e45",  # 46 integer digits: summed from its text, not in Decimal256
        "123456789012345678901234567890123456789012345",
        2**62,
        2**62,  # the two overflow a 64-bit sum
        0.1,
        "0.1234567890123456789012345",  # 25 decimals: more than Decimal256(20) keeps
        "0.000000000000000000000001",
    ]
    items = [
        {
            "id": f"w{n}",
            "customer": "wide",
            "type": "llm",
            "timestamp": (T0 + timedelta(hours=n)).isoformat(),
            "properties": {"tokens": v},
        }
        for n, v in enumerate(values)
    ]
    ingest(store, items)
    got = {a: store.usage.aggregate(TENANT, usage_meter(a), T0, T1)[UsageKey("wide")] for a in ALL}
    total = "1123456789012345678901234577113495493643788153.2234567890123456789012355"
    assert got[Aggregation.SUM] == Decimal(total)
    assert got[Aggregation.MAX] == Decimal("1e45")
    assert got[Aggregation.MIN] == Decimal("0.000000000000000000000001")
    assert got[Aggregation.COUNT] == 7
    assert got[Aggregation.UNIQUE_COUNT] == 6
    assert got[Aggregation.LATEST] == Decimal("1e-24")


@pytest.mark.parametrize("aggregation", ALL, ids=[a.value for a in ALL])
def test_day_windows_in_a_time_zone_across_dst(loaded: Container, aggregation: Aggregation) -> None:
    m = usage_meter(aggregation)
    start = datetime(2026, 3, 5, 5, tzinfo=UTC)  # 00:00 in New York (EST)
    end = datetime(2026, 3, 12, 4, tzinfo=UTC)  # 00:00 in New York (EDT)
    report = _report(loaded, m, start, end, WindowSize.DAY, "America/New_York")
    for series in report.series:
        for window, value in series.values:
            want = expected(m, window.start, window.end, customers=[series.customer])
            key = UsageKey(series.customer)
            if aggregation is Aggregation.TIME_WEIGHTED_AVERAGE:
                assert value == want.get(key, Decimal(0))
            else:
                empty = Decimal(0) if aggregation in _ZERO else None
                assert value == want.get(key, empty), (series.customer, window)
    assert len(report.windows) == 7


_ZERO = {Aggregation.COUNT, Aggregation.SUM, Aggregation.UNIQUE_COUNT}


def _report(
    container: Container, m: Meter, start: datetime, end: datetime, window: WindowSize, tz: str
) -> UsageReport:
    """``UsageService.report`` of ``m`` (a meter not published, so ingest keeps every value)."""

    class _Catalog:
        def get_meter(self, tenant_id: str, key: str) -> Meter:
            return m

        def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Any:
            raise AssertionError("not used")

        def list_meters(self, tenant_id: str) -> list[Meter]:
            return [m]

    source: UsageSource
    if container.events_executor is not None:
        source = ClickHouseUsage(container.events_executor)
    else:
        source = UsageSql(container.engine)
    return UsageService(source, _Catalog()).report(TENANT, "m", start, end, window=window, tz=tz)


def test_a_late_event_changes_the_closed_window(store: Container) -> None:
    first = [e for e in EVENTS[:40] if e["type"] == "llm"]
    ingest(store, first)
    m = usage_meter(Aggregation.SUM)
    before = dict(store.usage.aggregate(TENANT, m, T0 - timedelta(days=3), T1))
    late = {
        "id": "late-1",
        "customer": "acme",
        "type": "llm",
        "timestamp": (T0 - timedelta(days=1)).isoformat(),
        "properties": {"tokens": "0.000000000000000000000007"},
    }
    ingest(store, [late])
    after = dict(store.usage.aggregate(TENANT, m, T0 - timedelta(days=3), T1))
    assert after[UsageKey("acme")] - before[UsageKey("acme")] == Decimal("7e-24")
    assert after == expected(m, T0 - timedelta(days=3), T1, events=[*first, late])


def test_duplicates_and_reshipping_count_once(store: Container) -> None:
    batch = [e for e in EVENTS[:60] if e["type"] == "llm"]
    ingest(store, batch)
    ingest(store, batch)  # the same events again: duplicates, stored once
    if store.shipper is not None:
        from sqlalchemy import update

        from tallybook.adapters.store.schema_shipping import event_batches

        with store.engine.begin() as conn:  # every batch shipped again (a lost commit)
            conn.execute(update(event_batches).values(shipped_at=None))
        assert store.shipper.ship_all() >= 1
    m = usage_meter(Aggregation.COUNT)
    start = T0 - timedelta(days=3)
    assert dict(store.usage.aggregate(TENANT, m, start, T1)) == expected(m, start, T1, events=batch)


def test_weighted_meter_matches_the_reference(loaded: Container) -> None:
    sources = (
        MeterSource("llm", value="tokens", multiplier=Decimal("0.001")),
        MeterSource("other", multiplier=Decimal(5)),
        MeterSource("llm", multiplier=Decimal("0.5"), filter={"model": ("b",)}),
        MeterSource("other", value="usage.tokens", multiplier=Decimal("0.25")),
    )
    m = Meter("w", None, Aggregation.SUM, sources=sources, group_by=("region",))
    got = dict(loaded.usage.aggregate(TENANT, m, T0, T1, group_by="region"))
    want: dict[UsageKey, Decimal] = {}
    for e in EVENTS:
        if (
            e["type"] not in ("llm", "other")
            or not T0 <= datetime.fromisoformat(e["timestamp"]) < T1
        ):
            continue
        key = UsageKey(e["customer"], e["properties"]["region"])
        add = weighted_value(sources, e["type"], e["properties"])
        want[key] = EXACT.add(want.get(key, Decimal(0)), add)
    assert set(got) == set(want) and len(got) == 12
    assert all(got[k] == want[k] for k in got), {k: (got[k], want[k]) for k in got}


WEIGHTED = (
    MeterSource("llm", value="tokens", multiplier=Decimal("0.001")),
    MeterSource("other", multiplier=Decimal(5)),
    MeterSource("llm", multiplier=Decimal("0.5"), filter={"model": ("b",)}),
    MeterSource("other", value="usage.tokens", multiplier=Decimal("0.25")),
)


def _weighted_reference(
    start: datetime, end: datetime, customers: list[str] | None = None
) -> dict[UsageKey, Decimal]:
    """Per customer: the exact sum of ``meters.weighted_value`` over events in range."""
    out: dict[UsageKey, Decimal] = {}
    for e in EVENTS:
        if customers is not None and e["customer"] not in customers:
            continue
        if e["type"] not in ("llm", "other"):
            continue
        if not start <= datetime.fromisoformat(e["timestamp"]) < end:
            continue
        add = weighted_value(WEIGHTED, e["type"], e["properties"])
        key = UsageKey(e["customer"])
        out[key] = EXACT.add(out.get(key, Decimal(0)), add)
    return out


def test_weighted_meter_in_day_windows_for_chosen_customers(loaded: Container) -> None:
    """Weighted meters (``sources`` with multipliers) through the bucketed path: day
    windows in New York across the DST change, and a customer selection, on every store."""
    m = Meter("m", None, Aggregation.SUM, sources=WEIGHTED)
    start = datetime(2026, 3, 5, 5, tzinfo=UTC)
    end = datetime(2026, 3, 12, 4, tzinfo=UTC)
    report = _report(loaded, m, start, end, WindowSize.DAY, "America/New_York")
    in_range = {k.customer for k in _weighted_reference(start, end)}
    assert len(report.windows) == 7 and {s.customer for s in report.series} == in_range
    nonzero = 0
    for series in report.series:
        for window, value in series.values:
            want = _weighted_reference(window.start, window.end, [series.customer])
            assert value == want.get(UsageKey(series.customer), Decimal(0)), window
            nonzero += value != 0
    assert nonzero >= 5
    chosen = ["bolt", "dyn", "nobody"]
    got = dict(loaded.usage.aggregate(TENANT, m, T0, T1, customers=chosen))
    assert got == _weighted_reference(T0, T1, chosen) and set(got) == {
        UsageKey("bolt"),
        UsageKey("dyn"),
    }


@pytest.mark.parametrize("aggregation", [a for a in ALL if a is not Aggregation.SUM])
def test_weighted_meter_other_than_sum_is_refused(
    store: Container, aggregation: Aggregation
) -> None:
    """Every store refuses a weighted meter that does not sum (the catalog never stores
    one), with the same code, rather than guessing."""
    m = Meter("m", None, aggregation, sources=WEIGHTED)
    with pytest.raises(ValidationError) as caught:
        store.usage.aggregate(TENANT, m, T0, T1)
    assert caught.value.code == "invalid_meter"
