"""Billing periods: half-open edges, anchors, month-end clamping, time zones and DST."""

from __future__ import annotations

import ast
import calendar
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from itertools import islice, pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tallybook.domain import periods as periods_module
from tallybook.domain.errors import ValidationError
from tallybook.domain.periods import (
    Anchor,
    Interval,
    InvalidInstant,
    InvalidTimezone,
    Period,
    PeriodError,
    add_intervals,
    billing_periods,
    closed_periods,
    parse_instant,
    period_anchor,
    period_containing,
    periods_between,
    periods_from,
    time_fraction,
    utc,
)

MICROSECOND = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def at(text: str) -> datetime:
    return parse_instant(text)


def hours(period: Period) -> Decimal:
    return Decimal(period.duration // timedelta(seconds=1)) / 3600


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def exists(local: datetime, zone: ZoneInfo) -> bool:
    return wall(local.replace(tzinfo=zone).astimezone(UTC), zone) == local


def is_transition(instant: datetime, zone: ZoneInfo) -> bool:
    before = (instant - MICROSECOND).astimezone(zone).utcoffset()
    return before != instant.astimezone(zone).utcoffset()


# --- module hygiene -----------------------------------------------------------------


def test_imports_only_the_standard_library_and_the_domain_errors() -> None:
    tree = ast.parse(Path(periods_module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add(node.module or "")
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside == {"tallybook.domain.errors"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PeriodError, "invalid_period"),
        (InvalidTimezone, "invalid_timezone"),
        (InvalidInstant, "invalid_instant"),
    ],
)
def test_errors_are_domain_validation_errors_and_value_errors(
    error: type[PeriodError], code: str
) -> None:
    assert issubclass(error, ValidationError)
    assert issubclass(error, ValueError)
    assert error("boom").code == code


def test_unknown_interval_or_anchor_is_a_period_error() -> None:
    start = at("2026-01-01T00:00:00Z")
    with pytest.raises(PeriodError):
        add_intervals(datetime(2026, 1, 1), "fortnight", 1)  # type: ignore[arg-type]
    with pytest.raises(PeriodError):
        period_anchor(start, "birthday", Interval.MONTH, "UTC")  # type: ignore[arg-type]
    with pytest.raises(PeriodError):
        period_containing(start, anchor=start, interval="hour", tz="UTC")  # type: ignore[arg-type]


def test_enum_values_are_the_wire_strings() -> None:
    assert [i.value for i in Interval] == ["day", "week", "month", "quarter", "year"]
    assert [a.value for a in Anchor] == ["subscription", "calendar"]
    assert add_intervals(datetime(2026, 1, 31), "month", 1) == datetime(2026, 2, 28)  # type: ignore[arg-type]


# --- instants and zones -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T07:00:00Z", datetime(2026, 3, 1, 7, tzinfo=UTC)),
        ("2026-03-01t07:00:00z", datetime(2026, 3, 1, 7, tzinfo=UTC)),
        ("2026-03-01T09:00:00+02:00", datetime(2026, 3, 1, 7, tzinfo=UTC)),
        ("2026-03-01T01:30:00.250-05:30", datetime(2026, 3, 1, 7, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_instant_normalises_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-03-01T07:00:00", "2026-03-01", "yesterday", "", 1772348400])
def test_parse_instant_rejects_naive_or_malformed_text(text: str) -> None:
    with pytest.raises(InvalidInstant):
        parse_instant(text)


def test_parse_instant_and_utc_take_aware_datetimes_only() -> None:
    paris = datetime(2026, 7, 1, 2, tzinfo=ZoneInfo("Europe/Paris"))
    assert parse_instant(paris) == utc(paris) == datetime(2026, 7, 1, 0, tzinfo=UTC)
    assert utc(paris).tzinfo is UTC
    with pytest.raises(ValueError):
        parse_instant(datetime(2026, 7, 1))
    with pytest.raises(ValueError):
        utc(datetime(2026, 7, 1))


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "America", "utc"])
def test_unknown_time_zone_is_a_value_error_with_a_code(tz: str) -> None:
    with pytest.raises(InvalidTimezone) as raised:
        period_anchor(at("2026-01-01T00:00:00Z"), Anchor.CALENDAR, Interval.MONTH, tz)
    assert isinstance(raised.value, ValueError)
    assert raised.value.code == "invalid_timezone"
    assert raised.value.details == {"tz": tz}
    with pytest.raises(InvalidTimezone):
        periods_from(at("2026-01-01T00:00:00Z"), Interval.MONTH, tz)  # eager, not lazy


# --- Period --------------------------------------------------------------------------


def test_period_is_half_open() -> None:
    period = Period(at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
    assert period.contains(period.start)
    assert period.contains(period.end - MICROSECOND)
    assert not period.contains(period.end)
    assert not period.contains(period.start - MICROSECOND)
    assert period.duration == timedelta(days=28)


def test_period_validates_and_normalises_edges() -> None:
    paris = ZoneInfo("Europe/Paris")
    period = Period(datetime(2026, 1, 1, 1, tzinfo=paris), datetime(2026, 1, 2, 1, tzinfo=paris))
    assert period.start.tzinfo is UTC
    assert period.start == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInstant):
        Period(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(PeriodError):
        Period(at("2026-01-02T00:00:00Z"), at("2026-01-02T00:00:00Z"))
    with pytest.raises(InvalidInstant):
        period.contains(datetime(2026, 1, 1, 12))


def test_fraction_is_an_exact_clipped_share() -> None:
    february = Period(at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
    assert february.fraction(february.start, at("2026-02-15T00:00:00Z")) == Decimal("0.5")
    assert february.fraction(at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z")) == 1
    assert february.fraction(at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z")) == 0
    assert february.fraction(at("2026-01-25T00:00:00Z"), at("2026-02-08T00:00:00Z")) == Decimal(
        "0.25"
    )
    one_second = february.fraction(february.start, february.start + timedelta(seconds=1))
    assert one_second == Decimal(1) / Decimal(28 * 86400)


def test_fraction_rounds_to_28_digits_whatever_the_callers_context() -> None:
    start = at("2026-01-01T00:00:00Z")
    with localcontext() as context:
        context.prec = 5
        third = time_fraction(start, start + timedelta(days=1), start, start + timedelta(days=3))
    assert third == Decimal("0.3333333333333333333333333333")
    assert isinstance(third, Decimal)


def test_fraction_rejects_reversed_or_empty_intervals() -> None:
    start, end = at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z")
    with pytest.raises(PeriodError):
        time_fraction(end, start, start, end)
    with pytest.raises(PeriodError):
        time_fraction(start, end, end, start)
    assert time_fraction(start, start, start, end) == 0


# --- calendar arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "interval", "n", "expected"),
    [
        (datetime(2026, 1, 31), Interval.MONTH, 1, datetime(2026, 2, 28)),
        (datetime(2026, 1, 31), Interval.MONTH, 2, datetime(2026, 3, 31)),
        (datetime(2026, 1, 31), Interval.MONTH, 3, datetime(2026, 4, 30)),
        (datetime(2026, 1, 31), Interval.MONTH, 4, datetime(2026, 5, 31)),
        (datetime(2027, 1, 31), Interval.MONTH, 13, datetime(2028, 2, 29)),
        (datetime(2026, 3, 31, 9, 30), Interval.MONTH, -1, datetime(2026, 2, 28, 9, 30)),
        (datetime(2026, 1, 1), Interval.MONTH, -13, datetime(2024, 12, 1)),
        (datetime(2025, 11, 30), Interval.QUARTER, 1, datetime(2026, 2, 28)),
        (datetime(2025, 8, 31), Interval.QUARTER, 2, datetime(2026, 2, 28)),
        (datetime(2025, 8, 31), Interval.QUARTER, 3, datetime(2026, 5, 31)),
        (datetime(2028, 2, 29), Interval.YEAR, 1, datetime(2029, 2, 28)),
        (datetime(2028, 2, 29), Interval.YEAR, 4, datetime(2032, 2, 29)),
        (datetime(2028, 2, 29), Interval.YEAR, -4, datetime(2024, 2, 29)),
        (datetime(2026, 3, 7, 2, 30), Interval.DAY, 1, datetime(2026, 3, 8, 2, 30)),
        (datetime(2026, 12, 28), Interval.WEEK, 1, datetime(2027, 1, 4)),
        (datetime(2026, 1, 5), Interval.WEEK, -2, datetime(2025, 12, 22)),
    ],
)
def test_add_intervals(anchor: datetime, interval: Interval, n: int, expected: datetime) -> None:
    assert add_intervals(anchor, interval, n) == expected


def test_add_intervals_clamps_from_the_anchor_never_from_the_previous_boundary() -> None:
    anchor = datetime(2026, 1, 31)
    drifting = add_intervals(add_intervals(anchor, Interval.MONTH, 1), Interval.MONTH, 1)
    assert drifting == datetime(2026, 3, 28)  # what iterating would do ...
    assert add_intervals(anchor, Interval.MONTH, 2) == datetime(2026, 3, 31)  # ... and must not


def test_jan_31_anchor_through_leap_year_2028() -> None:
    periods = list(islice(periods_from(at("2028-01-31T00:00:00Z"), Interval.MONTH), 14))
    starts = [p.start.date().isoformat() for p in periods]
    assert starts == [
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
        "2028-05-31",
        "2028-06-30",
        "2028-07-31",
        "2028-08-31",
        "2028-09-30",
        "2028-10-31",
        "2028-11-30",
        "2028-12-31",
        "2029-01-31",
        "2029-02-28",
    ]
    assert periods[-1].end == at("2029-03-31T00:00:00Z")


def test_quarterly_and_yearly_sequences() -> None:
    quarters = list(islice(periods_from(at("2025-08-31T12:00:00Z"), Interval.QUARTER), 4))
    assert [p.end.date().isoformat() for p in quarters] == [
        "2025-11-30",
        "2026-02-28",
        "2026-05-31",
        "2026-08-31",
    ]
    years = list(islice(periods_from(at("2028-02-29T00:00:00Z"), Interval.YEAR), 4))
    assert [p.end.date().isoformat() for p in years] == [
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


# --- anchors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "interval", "tz", "expected"),
    [
        ("2026-03-04T10:00:00Z", Interval.DAY, "UTC", "2026-03-04T00:00:00Z"),
        ("2026-03-01T20:00:00Z", Interval.DAY, "Asia/Kolkata", "2026-03-01T18:30:00Z"),
        ("2026-03-04T10:00:00Z", Interval.WEEK, "UTC", "2026-03-02T00:00:00Z"),
        ("2026-03-02T00:00:00Z", Interval.WEEK, "UTC", "2026-03-02T00:00:00Z"),
        ("2026-03-01T23:30:00Z", Interval.WEEK, "Europe/Paris", "2026-03-01T23:00:00Z"),
        ("2026-03-01T22:30:00Z", Interval.WEEK, "Europe/Paris", "2026-02-22T23:00:00Z"),
        ("2026-05-17T10:00:00Z", Interval.MONTH, "UTC", "2026-05-01T00:00:00Z"),
        ("2026-03-01T07:00:00Z", Interval.MONTH, "America/Los_Angeles", "2026-02-01T08:00:00Z"),
        ("2026-05-17T10:00:00Z", Interval.QUARTER, "UTC", "2026-04-01T00:00:00Z"),
        ("2026-12-31T23:59:59Z", Interval.QUARTER, "UTC", "2026-10-01T00:00:00Z"),
        ("2026-05-17T10:00:00Z", Interval.YEAR, "UTC", "2026-01-01T00:00:00Z"),
        ("2026-01-01T05:00:00Z", Interval.YEAR, "America/New_York", "2026-01-01T05:00:00Z"),
        ("2026-01-01T04:59:59Z", Interval.YEAR, "America/New_York", "2025-01-01T05:00:00Z"),
    ],
)
def test_calendar_anchor(start: str, interval: Interval, tz: str, expected: str) -> None:
    assert period_anchor(at(start), Anchor.CALENDAR, interval, tz) == at(expected)


def test_subscription_anchor_is_the_start_itself() -> None:
    start = at("2026-03-15T12:34:56Z")
    assert period_anchor(start, Anchor.SUBSCRIPTION, Interval.MONTH, "Europe/Paris") == start


def test_calendar_anchor_gives_a_partial_first_period() -> None:
    start = at("2026-03-15T12:00:00Z")
    periods = list(islice(billing_periods(start, anchor=Anchor.CALENDAR, interval="month"), 3))  # type: ignore[arg-type]
    assert periods == [
        Period(start, at("2026-04-01T00:00:00Z")),
        Period(at("2026-04-01T00:00:00Z"), at("2026-05-01T00:00:00Z")),
        Period(at("2026-05-01T00:00:00Z"), at("2026-06-01T00:00:00Z")),
    ]


def test_calendar_anchor_on_a_boundary_gives_a_full_first_period() -> None:
    start = at("2026-02-28T23:00:00Z")  # March 1st, midnight in Paris
    first = next(
        billing_periods(start, anchor=Anchor.CALENDAR, interval=Interval.MONTH, tz="Europe/Paris")
    )
    assert first == Period(start, at("2026-03-31T22:00:00Z"))


def test_subscription_anchor_gives_full_periods_from_the_start() -> None:
    start = at("2026-01-31T15:00:00Z")
    periods = list(
        islice(billing_periods(start, anchor=Anchor.SUBSCRIPTION, interval=Interval.MONTH), 2)
    )
    assert periods == [
        Period(start, at("2026-02-28T15:00:00Z")),
        Period(at("2026-02-28T15:00:00Z"), at("2026-03-31T15:00:00Z")),
    ]


def test_periods_from_with_a_start_before_the_anchor() -> None:
    anchor = at("2026-01-31T00:00:00Z")
    first = next(periods_from(anchor, Interval.MONTH, start=at("2025-12-15T00:00:00Z")))
    assert first == Period(at("2025-12-15T00:00:00Z"), at("2025-12-31T00:00:00Z"))


# --- period_containing ---------------------------------------------------------------


def test_period_containing_before_the_anchor() -> None:
    anchor = at("2026-01-31T00:00:00Z")
    assert period_containing(
        at("2025-12-15T00:00:00Z"), anchor=anchor, interval=Interval.MONTH
    ) == Period(at("2025-11-30T00:00:00Z"), at("2025-12-31T00:00:00Z"))
    assert period_containing(
        at("2020-02-29T12:00:00Z"), anchor=anchor, interval=Interval.MONTH
    ) == Period(at("2020-02-29T00:00:00Z"), at("2020-03-31T00:00:00Z"))
    assert period_containing(
        at("1999-06-01T00:00:00Z"), anchor=anchor, interval=Interval.YEAR
    ) == Period(at("1999-01-31T00:00:00Z"), at("2000-01-31T00:00:00Z"))


def test_an_instant_at_a_period_end_belongs_to_the_next_period() -> None:
    anchor = at("2026-01-01T00:00:00Z")
    january = period_containing(at("2026-01-15T00:00:00Z"), anchor=anchor, interval="month")  # type: ignore[arg-type]
    february = period_containing(january.end, anchor=anchor, interval=Interval.MONTH)
    assert february.start == january.end == at("2026-02-01T00:00:00Z")
    assert not january.contains(january.end)


def test_los_angeles_calendar_month_edges() -> None:
    tz = "America/Los_Angeles"
    anchor = period_anchor(at("2026-02-10T00:00:00Z"), Anchor.CALENDAR, Interval.MONTH, tz)
    february = period_containing(
        at("2026-03-01T07:00:00Z"), anchor=anchor, interval=Interval.MONTH, tz=tz
    )
    march = period_containing(
        at("2026-03-01T08:00:00Z"), anchor=anchor, interval=Interval.MONTH, tz=tz
    )
    assert february == Period(at("2026-02-01T08:00:00Z"), at("2026-03-01T08:00:00Z"))
    assert march == Period(at("2026-03-01T08:00:00Z"), at("2026-04-01T07:00:00Z"))
    assert hours(march) == 743  # DST starts 2026-03-08


# --- DST ---------------------------------------------------------------------------


def test_paris_monthly_periods_across_dst() -> None:
    anchor = at("2025-12-31T23:00:00Z")  # 2026-01-01 00:00 in Paris
    year = list(islice(periods_from(anchor, Interval.MONTH, "Europe/Paris"), 12))
    assert [hours(p) for p in year] == [744, 672, 743, 720, 744, 720, 744, 744, 720, 745, 720, 744]
    assert year[2] == Period(at("2026-02-28T23:00:00Z"), at("2026-03-31T22:00:00Z"))
    assert year[9] == Period(at("2026-09-30T22:00:00Z"), at("2026-10-31T23:00:00Z"))


def test_paris_daily_periods_on_dst_days() -> None:
    anchor = at("2026-03-27T23:00:00Z")  # 2026-03-28 00:00 in Paris
    spring = list(islice(periods_from(anchor, Interval.DAY, "Europe/Paris"), 3))
    assert [hours(p) for p in spring] == [24, 23, 24]
    october = period_containing(
        at("2026-10-25T12:00:00Z"), anchor=anchor, interval=Interval.DAY, tz="Europe/Paris"
    )
    assert october == Period(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z"))


def test_nonexistent_boundary_resolves_to_the_end_of_the_gap() -> None:
    anchor = at("2026-03-06T07:30:00Z")  # 02:30 in New York, daily
    days = list(islice(periods_from(anchor, Interval.DAY, "America/New_York"), 3))
    # 2026-03-08 02:30 does not exist: the boundary is 03:00 EDT (07:00Z), the gap's end.
    assert [p.end for p in days] == [
        at("2026-03-07T07:30:00Z"),
        at("2026-03-08T07:00:00Z"),
        at("2026-03-09T06:30:00Z"),
    ]


def test_ambiguous_boundary_resolves_to_the_first_occurrence() -> None:
    anchor = at("2026-10-30T05:30:00Z")  # 01:30 EDT in New York, daily
    days = list(islice(periods_from(anchor, Interval.DAY, "America/New_York"), 3))
    assert [p.end for p in days] == [
        at("2026-10-31T05:30:00Z"),
        at("2026-11-01T05:30:00Z"),  # 01:30 EDT, the first of the two 01:30s
        at("2026-11-02T06:30:00Z"),
    ]
    assert hours(days[2]) == 25


def test_an_anchor_at_the_second_occurrence_is_its_own_first_boundary() -> None:
    anchor = at("2026-11-01T06:30:00Z")  # 01:30 EST, the second 01:30
    first = next(periods_from(anchor, Interval.DAY, "America/New_York"))
    assert first == Period(anchor, at("2026-11-02T06:30:00Z"))
    before = period_containing(
        anchor - MICROSECOND, anchor=anchor, interval=Interval.DAY, tz="America/New_York"
    )
    assert before == Period(at("2026-10-31T05:30:00Z"), anchor)


def test_calendar_day_starting_in_a_midnight_gap() -> None:
    tz = "America/Santiago"  # 2026-09-06 00:00 does not exist: the day starts at 01:00
    anchor = period_anchor(at("2026-09-06T15:00:00Z"), Anchor.CALENDAR, Interval.DAY, tz)
    assert anchor == at("2026-09-06T04:00:00Z")
    days = list(islice(periods_from(anchor, Interval.DAY, tz), 3))
    assert [p.end for p in days] == [
        at("2026-09-07T03:00:00Z"),  # next midnight, not 01:00
        at("2026-09-08T03:00:00Z"),
        at("2026-09-09T03:00:00Z"),
    ]
    assert hours(days[0]) == 23


def test_a_day_skipped_by_the_zone_yields_no_empty_period() -> None:
    tz = "Pacific/Apia"  # 2011-12-30 was skipped: 29th 23:59:59 -10:00 -> 31st 00:00 +14:00
    anchor = at("2011-12-28T10:00:00Z")  # 2011-12-28 00:00 local
    days = list(islice(periods_from(anchor, Interval.DAY, tz), 4))
    assert [p.start for p in days] == [
        at("2011-12-28T10:00:00Z"),
        at("2011-12-29T10:00:00Z"),
        at("2011-12-30T10:00:00Z"),  # 2011-12-31 00:00 local
        at("2011-12-31T10:00:00Z"),
    ]
    assert all(p.duration == timedelta(days=1) for p in days)


# --- closed periods ------------------------------------------------------------------


def test_periods_between_returns_closed_periods_only() -> None:
    anchor = at("2026-01-01T00:00:00Z")
    closed = periods_between(anchor, Interval.MONTH, until=at("2026-04-01T00:00:00Z"))
    assert [p.end for p in closed] == [
        at("2026-02-01T00:00:00Z"),
        at("2026-03-01T00:00:00Z"),
        at("2026-04-01T00:00:00Z"),
    ]
    assert len(periods_between(anchor, Interval.MONTH, until=at("2026-03-31T23:59:59Z"))) == 2
    assert periods_between(anchor, Interval.MONTH, until=anchor) == []
    partial = periods_between(
        anchor, Interval.MONTH, start=at("2026-01-20T00:00:00Z"), until=at("2026-03-01T00:00:00Z")
    )
    assert [p.start for p in partial] == [at("2026-01-20T00:00:00Z"), at("2026-02-01T00:00:00Z")]


def test_closed_periods_takes_any_period_iterator() -> None:
    subscription = billing_periods(
        at("2026-01-20T00:00:00Z"), anchor=Anchor.CALENDAR, interval=Interval.MONTH
    )
    closed = closed_periods(subscription, until=at("2026-03-01T00:00:00Z"))
    assert [p.start for p in closed] == [at("2026-01-20T00:00:00Z"), at("2026-02-01T00:00:00Z")]


# --- properties -----------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",  # DST changes at midnight
    "Atlantic/Azores",  # DST changes at midnight
]
STEPS = {
    Interval.DAY: 60,
    Interval.WEEK: 30,
    Interval.MONTH: 26,
    Interval.QUARTER: 10,
    Interval.YEAR: 4,
}
PROPERTIES = settings(max_examples=200, deadline=None)

zones = st.sampled_from(ZONES)
intervals = st.sampled_from(list(Interval))
offsets = st.integers(-10 * 366 * 86400, 10 * 366 * 86400).map(lambda s: timedelta(seconds=s))


@st.composite
def local_times(draw: st.DrawFn) -> datetime:
    """Wall-clock times biased towards month ends, midnight and DST-prone hours."""
    year, month = draw(st.integers(2000, 2040)), draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = min(draw(st.sampled_from([1, 28, 29, 30, 31]) | st.integers(1, 31)), last)
    hour = draw(st.sampled_from([0, 1, 2, 3]) | st.integers(0, 23))
    minute = draw(st.sampled_from([0, 30, 45]) | st.integers(0, 59))
    return datetime(year, month, day, hour, minute)


@st.composite
def anchors(draw: st.DrawFn) -> tuple[datetime, Interval, str]:
    tz = draw(zones)
    anchor = draw(local_times()).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    return anchor, draw(intervals), tz


def expected_boundary(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


@PROPERTIES
@given(anchors(), st.none() | offsets)
def test_periods_tile_time_without_gap_or_overlap(
    case: tuple[datetime, Interval, str], offset: timedelta | None
) -> None:
    anchor, interval, tz = case
    start = None if offset is None else anchor + offset
    periods = list(islice(periods_from(anchor, interval, tz, start=start), STEPS[interval]))
    assert periods[0].start == (anchor if start is None else start)
    for period, following in pairwise(periods):
        assert period.end == following.start
    for period in periods:
        assert period.start < period.end
        assert period.contains(period.start)
        assert not period.contains(period.end)


@PROPERTIES
@given(anchors())
def test_boundaries_are_local_wall_clock_times_clamped_from_the_anchor(
    case: tuple[datetime, Interval, str],
) -> None:
    anchor, interval, tz = case
    zone = ZoneInfo(tz)
    assume(not is_transition(anchor, zone))  # such an anchor may stand for a calendar boundary
    local_anchor = wall(anchor, zone)
    periods = islice(periods_from(anchor, interval, tz), STEPS[interval])
    for k, period in enumerate(periods, start=1):
        local = add_intervals(local_anchor, interval, k)
        if interval not in (Interval.DAY, Interval.WEEK):
            month_days = calendar.monthrange(local.year, local.month)[1]
            assert local.day == min(local_anchor.day, month_days)
        if exists(local, zone):
            assert period.end == expected_boundary(local, zone)
        else:  # in a spring-forward gap: the first instant after it
            assert is_transition(period.end, zone)
            assert wall(period.end - MICROSECOND, zone) < local < wall(period.end, zone)


@PROPERTIES
@given(anchors(), offsets)
def test_period_containing_holds_the_instant_and_belongs_to_the_sequence(
    case: tuple[datetime, Interval, str], offset: timedelta
) -> None:
    anchor, interval, tz = case
    instant = anchor + offset
    period = period_containing(instant, anchor=anchor, interval=interval, tz=tz)
    assert period.contains(instant)
    assert period_containing(period.start, anchor=anchor, interval=interval, tz=tz) == period
    following = period_containing(period.end, anchor=anchor, interval=interval, tz=tz)
    assert following.start == period.end
    assert next(periods_from(anchor, interval, tz, start=period.start)) == period


@PROPERTIES
@given(zones, intervals, local_times(), st.sampled_from(list(Anchor)))
def test_billing_periods_start_at_the_subscription_and_follow_the_calendar(
    tz: str, interval: Interval, local_start: datetime, anchor: Anchor
) -> None:
    zone = ZoneInfo(tz)
    start = local_start.replace(tzinfo=zone).astimezone(UTC)
    first_anchor = period_anchor(start, anchor, interval, tz)
    assert first_anchor <= start
    periods = list(islice(billing_periods(start, anchor=anchor, interval=interval, tz=tz), 6))
    assert periods[0].start == start
    if anchor is Anchor.SUBSCRIPTION:
        assert periods[0] == next(periods_from(start, interval, tz))
        return
    for period in periods[1:]:
        local = wall(period.start, zone)
        assert local.time().isoformat() == "00:00:00" or is_transition(period.start, zone)
        if interval is Interval.WEEK:
            assert local.weekday() == 0
        if interval in (Interval.MONTH, Interval.QUARTER, Interval.YEAR):
            assert local.day == 1
        if interval is Interval.QUARTER:
            assert local.month in (1, 4, 7, 10)
        if interval is Interval.YEAR:
            assert local.month == 1


@PROPERTIES
@given(anchors(), offsets, st.lists(st.integers(0, 10**6), min_size=1, max_size=6))
def test_fractions_of_a_split_sum_to_one(
    case: tuple[datetime, Interval, str], offset: timedelta, cuts: list[int]
) -> None:
    anchor, interval, tz = case
    period = period_containing(anchor + offset, anchor=anchor, interval=interval, tz=tz)
    assert period.fraction(period.start, period.end) == 1
    points = sorted({period.start + period.duration * cut // 10**6 for cut in cuts})
    edges = [period.start, *points, period.end]
    parts = [period.fraction(a, b) for a, b in pairwise(edges)]
    assert all(0 <= part <= 1 for part in parts)
    assert abs(sum(parts, Decimal(0)) - 1) <= Decimal("1e-27") * len(parts)
    assert period.fraction(period.start - timedelta(days=400), period.end + HOUR) == 1
