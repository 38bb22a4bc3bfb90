"""Billing periods: half-open ``[start, end)`` intervals of UTC instants.

Boundaries are wall-clock times in the customer's IANA time zone, converted to UTC:
a monthly period in Europe/Paris starts at local midnight, so a period that spans a
DST change is an hour shorter or longer in UTC.

A period *sequence* is fixed by an anchor instant, an interval and a zone. Boundary
``k`` (any integer, negative too) is ``add_intervals(local_anchor, interval, k)``
resolved in the zone; month-based steps always clamp from the anchor's own
day-of-month (Jan 31 -> Feb 28 -> Mar 31 -> Apr 30), never from the previous boundary.

A wall-clock time that does not occur exactly once resolves as follows:

* nonexistent (spring-forward gap): the first instant after the gap, i.e. the
  transition itself (02:30 on a 02:00 -> 03:00 night resolves to 03:00 new time);
* ambiguous (fall-back overlap): the first occurrence (``fold=0``).

Boundary 0 is always the anchor instant itself, even if it is the second occurrence
of an ambiguous wall time. An anchor that is exactly where its own calendar boundary
(midnight, Monday, the 1st...) resolves after a gap keeps that calendar wall time, so a
calendar day that starts at 01:00 after a midnight gap still yields midnight boundaries.

Errors are part of the domain tree and also ``ValueError``s::

    ValidationError (tallybook.domain.errors), ValueError
    └── PeriodError         "invalid_period": unknown interval/anchor, empty period
        ├── InvalidTimezone "invalid_timezone": not an IANA zone known to zoneinfo
        └── InvalidInstant  "invalid_instant": naive or malformed timestamp
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tallybook.domain.errors import ValidationError

__all__ = [
    "Anchor",
    "Interval",
    "InvalidInstant",
    "InvalidTimezone",
    "Period",
    "PeriodError",
    "add_intervals",
    "billing_periods",
    "closed_periods",
    "load_zone",
    "parse_instant",
    "period_anchor",
    "period_containing",
    "periods_between",
    "periods_from",
    "time_fraction",
    "utc",
]


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Anchor(StrEnum):
    SUBSCRIPTION = "subscription"
    CALENDAR = "calendar"


class PeriodError(ValidationError, ValueError):
    """A period cannot be built from these arguments."""

    code = "invalid_period"


class InvalidTimezone(PeriodError):
    """The name is not an IANA time zone known to ``zoneinfo``."""

    code = "invalid_timezone"


class InvalidInstant(PeriodError):
    """A timestamp is naive or malformed."""

    code = "invalid_instant"


_DAYS_PER_STEP = {Interval.DAY: 1, Interval.WEEK: 7}
_MONTHS_PER_STEP = {Interval.MONTH: 1, Interval.QUARTER: 3, Interval.YEAR: 12}
_MICROSECOND = timedelta(microseconds=1)
# Fractions: 28 significant digits, banker's rounding, independent of the caller's context.
_FRACTION_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


# --- instants and zones -----------------------------------------------------------


def utc(dt: datetime) -> datetime:
    """Return the same instant with ``tzinfo=UTC``; naive datetimes are rejected."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInstant(f"naive datetime has no time zone: {dt.isoformat()}")
    return dt.astimezone(UTC)


def parse_instant(value: str | datetime) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or a numeric offset) into an aware UTC datetime."""
    if isinstance(value, datetime):
        return utc(value)
    if not isinstance(value, str):
        raise InvalidInstant(f"expected an RFC 3339 string or a datetime: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows 't' and 'z'
    except ValueError as exc:
        raise InvalidInstant(f"not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise InvalidInstant(f"timestamp needs 'Z' or a UTC offset: {value!r}")
    return utc(parsed)


def load_zone(tz: str) -> ZoneInfo:
    """Return the IANA zone called ``tz`` or raise ``InvalidTimezone``."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidTimezone(f"unknown time zone: {tz!r}", details={"tz": tz}) from exc


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """Naive local wall-clock time of ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """UTC instant of a naive wall-clock time: first occurrence, or the end of a gap."""
    first = wall.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if _wall(instant, zone) == wall:
        return instant
    return _end_of_gap(first, zone)


def _end_of_gap(nonexistent: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skips over the aware, nonexistent ``nonexistent``."""
    before = nonexistent.utcoffset()
    after = nonexistent.replace(fold=1).utcoffset()
    assert before is not None and after is not None  # a ZoneInfo always has an offset
    wall = nonexistent.replace(tzinfo=None)
    low = (wall - after).replace(tzinfo=UTC)  # still on the old offset
    high = (wall - before).replace(tzinfo=UTC)  # already on the new offset
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


# --- calendar arithmetic ------------------------------------------------------------


def _interval(value: Interval | str) -> Interval:
    try:
        return Interval(value)
    except ValueError as exc:
        raise PeriodError(f"unknown interval: {value!r}") from exc


def _anchor(value: Anchor | str) -> Anchor:
    try:
        return Anchor(value)
    except ValueError as exc:
        raise PeriodError(f"unknown anchor: {value!r}") from exc


def add_intervals(local_anchor: datetime, interval: Interval, n: int) -> datetime:
    """Wall-clock ``local_anchor`` plus ``n`` intervals (``n`` may be negative).

    Month-based steps keep the anchor's day-of-month, clamped to the target month's
    length. The tzinfo, if any, is carried along untouched: pass naive wall-clock times.
    """
    interval = _interval(interval)
    if interval in _DAYS_PER_STEP:
        return local_anchor + timedelta(days=_DAYS_PER_STEP[interval] * n)
    month_index = local_anchor.year * 12 + local_anchor.month - 1
    year, month0 = divmod(month_index + _MONTHS_PER_STEP[interval] * n, 12)
    if not 1 <= year <= 9999:
        raise OverflowError(f"year {year} is out of range")
    day = min(local_anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return local_anchor.replace(year=year, month=month0 + 1, day=day)


def _calendar_floor(wall: datetime, interval: Interval) -> datetime:
    """The calendar boundary (local midnight) at or before the naive ``wall``."""
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if interval is Interval.DAY:
        return midnight
    if interval is Interval.WEEK:
        return midnight - timedelta(days=midnight.weekday())
    if interval is Interval.MONTH:
        return midnight.replace(day=1)
    if interval is Interval.QUARTER:
        return midnight.replace(month=(midnight.month - 1) // 3 * 3 + 1, day=1)
    return midnight.replace(month=1, day=1)


def _steps_between(earlier: datetime, later: datetime, interval: Interval) -> int:
    """Rough number of intervals from wall time ``earlier`` to ``later`` (may be off by one)."""
    if interval in _DAYS_PER_STEP:
        return (later.date() - earlier.date()).days // _DAYS_PER_STEP[interval]
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months // _MONTHS_PER_STEP[interval]


# --- periods ------------------------------------------------------------------------


def time_fraction(
    part_start: datetime, part_end: datetime, whole_start: datetime, whole_end: datetime
) -> Decimal:
    """Share of ``[whole_start, whole_end)`` covered by ``[part_start, part_end)``.

    The part is clipped to the whole; the result is in ``[0, 1]``, computed from exact
    microsecond counts and rounded to 28 significant digits (exact when it terminates).
    """
    part_start, part_end = utc(part_start), utc(part_end)
    whole_start, whole_end = utc(whole_start), utc(whole_end)
    if whole_end <= whole_start:
        raise PeriodError("the whole interval must have a positive length")
    if part_end < part_start:
        raise PeriodError("part_end is before part_start")
    covered = min(part_end, whole_end) - max(part_start, whole_start)
    if covered <= timedelta(0):
        return Decimal(0)
    whole = whole_end - whole_start
    return _FRACTION_CONTEXT.divide(
        Decimal(covered // _MICROSECOND), Decimal(whole // _MICROSECOND)
    )


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open ``[start, end)`` of UTC instants; aware inputs are normalised to UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end <= self.start:
            raise PeriodError(f"period end {self.end} is not after start {self.start}")

    def contains(self, instant: datetime) -> bool:
        """True if ``start <= instant < end``: an instant at ``end`` is in the next period."""
        return self.start <= utc(instant) < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def fraction(self, part_start: datetime, part_end: datetime) -> Decimal:
        """Share of this period covered by ``[part_start, part_end)``, clipped, 0..1."""
        return time_fraction(part_start, part_end, self.start, self.end)


@dataclass(frozen=True, slots=True)
class _Sequence:
    """Boundaries ``anchor + k * interval`` in the wall clock of ``zone``, as UTC."""

    anchor: datetime
    local_anchor: datetime
    interval: Interval
    zone: ZoneInfo

    @classmethod
    def build(cls, anchor: datetime, interval: Interval, tz: str) -> _Sequence:
        interval, zone, anchor = _interval(interval), load_zone(tz), utc(anchor)
        wall = _wall(anchor, zone)
        floor = _calendar_floor(wall, interval)
        # A calendar boundary swallowed by a gap resolves to the gap's end; keep the
        # calendar wall time (e.g. midnight), not the gap's end, for the other boundaries.
        if floor != wall and _resolve(floor, zone) == anchor:
            wall = floor
        return cls(anchor, wall, interval, zone)

    def boundary(self, k: int) -> datetime:
        if k == 0:
            return self.anchor
        return _resolve(add_intervals(self.local_anchor, self.interval, k), self.zone)

    def index_of(self, instant: datetime) -> int:
        """The ``k`` with ``boundary(k) <= instant < boundary(k + 1)``."""
        k = _steps_between(self.local_anchor, _wall(instant, self.zone), self.interval)
        while self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k

    def periods(self, start: datetime) -> Iterator[Period]:
        """Consecutive periods, the first one ``[start, next boundary)``."""
        k, lower = self.index_of(start), start
        while True:
            k += 1
            upper = self.boundary(k)
            if upper > lower:  # a wall time lost in a day-long gap gives no empty period
                yield Period(lower, upper)
                lower = upper


def period_anchor(start: datetime, anchor: Anchor, interval: Interval, tz: str) -> datetime:
    """The UTC anchor of a subscription's period sequence.

    ``SUBSCRIPTION``: ``start`` itself. ``CALENDAR``: the calendar boundary in ``tz`` at
    or before ``start`` (local midnight of the day, Monday, the 1st of the month, of
    Jan/Apr/Jul/Oct, or Jan 1).
    """
    start, interval = utc(start), _interval(interval)
    if _anchor(anchor) is Anchor.SUBSCRIPTION:
        return start
    zone = load_zone(tz)
    return _resolve(_calendar_floor(_wall(start, zone), interval), zone)


def period_containing(
    instant: datetime, *, anchor: datetime, interval: Interval, tz: str = "UTC"
) -> Period:
    """The period of the sequence anchored at ``anchor`` that holds ``instant``."""
    sequence = _Sequence.build(anchor, interval, tz)
    instant = utc(instant)
    k = sequence.index_of(instant)
    return Period(sequence.boundary(k), sequence.boundary(k + 1))


def periods_from(
    anchor: datetime, interval: Interval, tz: str = "UTC", *, start: datetime | None = None
) -> Iterator[Period]:
    """Consecutive periods from ``anchor`` (or from ``start``, partial first) forever."""
    sequence = _Sequence.build(anchor, interval, tz)
    return sequence.periods(sequence.anchor if start is None else utc(start))


def billing_periods(
    subscription_start: datetime, *, anchor: Anchor, interval: Interval, tz: str = "UTC"
) -> Iterator[Period]:
    """A subscription's periods: a calendar anchor gives a partial first period."""
    first = period_anchor(subscription_start, anchor, interval, tz)
    return periods_from(first, interval, tz, start=subscription_start)


def closed_periods(periods: Iterable[Period], until: datetime) -> list[Period]:
    """The leading periods of an ordered iterable whose end is at or before ``until``."""
    until = utc(until)
    closed: list[Period] = []
    for period in periods:
        if period.end > until:
            break
        closed.append(period)
    return closed


def periods_between(
    anchor: datetime,
    interval: Interval,
    tz: str = "UTC",
    *,
    start: datetime | None = None,
    until: datetime,
) -> list[Period]:
    """``periods_from(...)`` limited to the closed periods (``end <= until``)."""
    return closed_periods(periods_from(anchor, interval, tz, start=start), until)
