"""Pure meter aggregation: values, paths, filters, every aggregation, windows in a zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import (
    EXACT,
    MISSING,
    InvalidMeterValue,
    InvalidPropertyPath,
    Reading,
    WindowSize,
    aggregate,
    dimension_text,
    extract,
    matches,
    parse_value,
    reading,
    split_path,
    time_weighted_average,
    try_value,
    unique_key,
    usage_windows,
)
from tallybook.domain.periods import InvalidTimezone

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def readings(*pairs: tuple[float, object]) -> list[Reading]:
    return [Reading(at(h), f"e{i}", v) for i, (h, v) in enumerate(pairs)]


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, Decimal(1)),
        (10**20 + 1, Decimal(10**20 + 1)),
        (0.1, Decimal("0.1")),
        ("0.05", Decimal("0.05")),
        ("-1.5e3", Decimal("-1500")),
        ("+.5", Decimal("0.5")),
        ("7.", Decimal(7)),
        (Decimal("2.50"), Decimal("2.50")),
    ],
)
def test_parse_value_accepts_numbers_and_decimal_strings(raw: object, expected: Decimal) -> None:
    assert parse_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [True, False, None, MISSING, "abc", "", " 1", "1_000", "NaN", "Infinity", "1e99999", [1],
     {"a": 1}, float("nan"), float("inf"), "0x10"],
)  # fmt: skip
def test_parse_value_rejects_everything_else_with_a_code(raw: object) -> None:
    with pytest.raises(InvalidMeterValue) as caught:
        parse_value(raw)
    assert caught.value.code == "invalid_meter_value"
    assert try_value(raw) is None


def test_extract_reads_nested_paths_and_reports_missing() -> None:
    props = {"usage": {"tokens": 12, "model": {"name": "m"}}, "flat": "x"}
    assert extract(props, "usage.tokens") == 12
    assert extract(props, "usage.model.name") == "m"
    assert extract(props, "flat") == "x"
    assert extract(props, "usage.absent") is MISSING
    assert extract(props, "flat.deeper") is MISSING
    assert extract(props, ("usage", "tokens")) == 12


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", 'a."b"'])
def test_split_path_rejects_empty_segments(path: str) -> None:
    with pytest.raises(InvalidPropertyPath):
        split_path(path)


def test_dimension_text_and_filters() -> None:
    assert dimension_text("eu") == "eu"
    assert dimension_text(3) == "3"
    assert dimension_text(True) == "true"
    assert dimension_text(None) is None
    assert dimension_text(MISSING) is None
    flt = {"region": ("eu", "us"), "tier.name": ("gold",)}
    assert matches(flt, {"region": "eu", "tier": {"name": "gold"}})
    assert not matches(flt, {"region": "ap", "tier": {"name": "gold"}})
    assert not matches(flt, {"region": "eu"})
    assert matches({}, {})
    assert matches({"code": ("1",)}, {"code": 1})


def test_unique_key_compares_numbers_by_value_and_strings_by_text() -> None:
    assert unique_key(1) == unique_key(Decimal("1.0")) == unique_key(1.0)
    assert unique_key("1") != unique_key(1)
    assert unique_key(None) is None
    assert unique_key({"b": 1, "a": 2}) == unique_key({"a": 2, "b": 1})


def test_reading_applies_the_meter_filter_and_value_path() -> None:
    meter = Meter("m", "t", Aggregation.SUM, value="usage.n", filter={"region": ("eu",)})
    got = reading(meter, T0, "e1", {"usage": {"n": 5}, "region": "eu"})
    assert got == Reading(T0, "e1", 5)
    assert reading(meter, T0, "e1", {"usage": {"n": 5}, "region": "us"}) is None
    counted = Meter("c", "t", Aggregation.COUNT)
    assert reading(counted, T0, "e", {}) == Reading(T0, "e", MISSING)


# --- aggregations -------------------------------------------------------------------------

SAMPLE = readings((0, 5), (1, "2.5"), (2, "bad"), (3, 5), (4, None), (5, 1))


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        (Aggregation.COUNT, Decimal(6)),
        (Aggregation.SUM, Decimal("13.5")),
        (Aggregation.MAX, Decimal(5)),
        (Aggregation.MIN, Decimal(1)),
        (Aggregation.UNIQUE_COUNT, Decimal(4)),  # 5, "2.5", "bad", 1 (null is no value)
        (Aggregation.LATEST, Decimal(1)),
    ],
)
def test_every_window_aggregation(aggregation: Aggregation, expected: Decimal) -> None:
    assert aggregate(aggregation, SAMPLE, at(0), at(6)) == expected


def test_windows_are_half_open() -> None:
    rs = readings((0, 1), (1, 10), (2, 100))
    assert aggregate(Aggregation.SUM, rs, at(0), at(2)) == 11  # the event at `end` is out
    assert aggregate(Aggregation.SUM, rs, at(1), at(3)) == 110  # the one at `start` is in


def test_empty_windows() -> None:
    assert aggregate(Aggregation.COUNT, [], at(0), at(1)) == 0
    assert aggregate(Aggregation.SUM, [], at(0), at(1)) == 0
    assert aggregate(Aggregation.MAX, [], at(0), at(1)) is None
    assert aggregate(Aggregation.LATEST, readings((0, "x")), at(0), at(1)) is None
    assert aggregate(Aggregation.TIME_WEIGHTED_AVERAGE, [], at(0), at(1)) == 0


def test_sums_are_exact() -> None:
    assert aggregate(Aggregation.SUM, readings((0, 0.1), (0, 0.2)), at(0), at(1)) == Decimal("0.3")
    big = readings((0, 10**20), (0, 1), (0, "0.000000000000000000001"))
    assert aggregate(Aggregation.SUM, big, at(0), at(1)) == Decimal(
        "100000000000000000001.000000000000000000001"
    )


def test_latest_breaks_ties_by_id() -> None:
    rs = [Reading(T0, "a", 1), Reading(T0, "b", 2)]
    assert aggregate(Aggregation.LATEST, rs, T0, at(1)) == 2


def test_time_weighted_average_weights_by_time_and_carries_in() -> None:
    # 10 carried in from before the window for 1h, then 20 for 2h, then 40 for 1h.
    rs = readings((-5, 10), (1, 20), (3, 40))
    assert aggregate(Aggregation.TIME_WEIGHTED_AVERAGE, rs, at(0), at(4)) == Decimal("22.5")


def test_time_weighted_average_is_zero_before_any_value() -> None:
    rs = readings((2, 8))
    assert aggregate(Aggregation.TIME_WEIGHTED_AVERAGE, rs, at(0), at(4)) == 4


def test_time_weighted_average_rounds_only_non_terminating_quotients() -> None:
    rs = readings((1, 1))
    got = aggregate(Aggregation.TIME_WEIGHTED_AVERAGE, rs, at(0), at(3))
    assert got == Decimal("0.6666666666666666666666666667")


def test_time_weighted_average_needs_a_window() -> None:
    with pytest.raises(ValidationError):
        time_weighted_average([], at(1), at(1))


# --- properties ---------------------------------------------------------------------------

values = st.one_of(
    st.integers(-(10**22), 10**22),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ),
)
event_lists = st.lists(st.tuples(st.integers(0, 1000), values), max_size=30)


def _readings(events: list[tuple[int, object]]) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=m), f"e{i}", v) for i, (m, v) in enumerate(events)]


@settings(max_examples=150, deadline=None)
@given(event_lists, st.integers(0, 1001))
def test_sum_and_count_are_additive_over_split_windows(
    events: list[tuple[int, object]], cut: int
) -> None:
    rs = _readings(events)
    start, middle, end = T0, T0 + timedelta(minutes=cut), T0 + timedelta(minutes=1001)
    for aggregation in (Aggregation.SUM, Aggregation.COUNT):
        left = aggregate(aggregation, rs, start, middle) if cut else Decimal(0)
        right = aggregate(aggregation, rs, middle, end)
        assert left is not None and right is not None
        assert EXACT.add(left, right) == aggregate(aggregation, rs, start, end)


@settings(max_examples=100, deadline=None)
@given(event_lists, st.integers(1, 1000))
def test_max_of_split_windows_is_max_of_parts(events: list[tuple[int, object]], cut: int) -> None:
    rs = _readings(events)
    middle, end = T0 + timedelta(minutes=cut), T0 + timedelta(minutes=1001)
    parts = [
        aggregate(Aggregation.MAX, rs, T0, middle),
        aggregate(Aggregation.MAX, rs, middle, end),
    ]
    known = [p for p in parts if p is not None]
    assert aggregate(Aggregation.MAX, rs, T0, end) == (max(known) if known else None)


@settings(max_examples=100, deadline=None)
@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6
    ),
    st.lists(st.integers(-100, 1000), max_size=10),
    st.integers(1, 1000),
)
def test_time_weighted_average_of_a_constant_is_that_constant(
    value: Decimal, minutes: list[int], length: int
) -> None:
    rs = [Reading(T0 + timedelta(minutes=m), f"e{i}", value) for i, m in enumerate(minutes)]
    rs.append(Reading(T0 - timedelta(minutes=101), "first", value))
    got = aggregate(Aggregation.TIME_WEIGHTED_AVERAGE, rs, T0, T0 + timedelta(minutes=length))
    assert got == value


# --- windows ------------------------------------------------------------------------------


def test_day_windows_follow_the_time_zone_and_clip_the_edges() -> None:
    start = datetime(2026, 3, 7, 12, tzinfo=UTC)
    end = datetime(2026, 3, 10, 12, tzinfo=UTC)
    windows = usage_windows(start, end, WindowSize.DAY, "America/Los_Angeles")
    assert [w.start for w in windows] == [
        start,
        datetime(2026, 3, 8, 8, tzinfo=UTC),  # midnight PST
        datetime(2026, 3, 9, 7, tzinfo=UTC),  # midnight PDT: March 8 had 23 hours
        datetime(2026, 3, 10, 7, tzinfo=UTC),
    ]
    assert windows[-1].end == end


def test_hour_windows_in_a_half_hour_zone() -> None:
    start = datetime(2026, 1, 1, 0, tzinfo=UTC)
    windows = usage_windows(start, start + 3 * HOUR, WindowSize.HOUR, "Asia/Kolkata")
    assert [w.start.minute for w in windows] == [0, 30, 30, 30]


def test_hour_windows_across_fall_back_keep_both_one_oclock_hours() -> None:
    start = datetime(2026, 11, 1, 7, tzinfo=UTC)  # 00:00 PDT
    windows = usage_windows(start, start + 4 * HOUR, WindowSize.HOUR, "America/Los_Angeles")
    assert len(windows) == 4
    assert all(w.duration == HOUR for w in windows)


def test_month_windows_and_single_window() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 4, 1, tzinfo=UTC)
    assert len(usage_windows(start, end, WindowSize.MONTH)) == 3
    assert len(usage_windows(start, end, None)) == 1


def test_window_errors_have_codes() -> None:
    with pytest.raises(ValidationError) as caught:
        usage_windows(T0, T0, WindowSize.DAY)
    assert caught.value.code == "invalid_range"
    with pytest.raises(InvalidTimezone):
        usage_windows(T0, at(1), WindowSize.DAY, "Mars/Olympus")
    with pytest.raises(ValidationError) as caught:
        usage_windows(T0, at(100), WindowSize.HOUR, limit=10)
    assert caught.value.code == "too_many_windows"


def test_minute_windows() -> None:
    start = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    windows = usage_windows(
        start, start + timedelta(minutes=3), WindowSize.MINUTE, "Asia/Kathmandu"
    )
    assert [w.start.second for w in windows] == [30, 0, 0, 0]
    assert len(windows) == 4
