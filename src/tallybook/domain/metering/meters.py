"""Meters: pure aggregation of usage events (standard library only).

A meter reads events of one ``event_type``, keeps those whose properties match its
``filter``, takes the value at its property ``value`` path and aggregates the values of
a half-open window ``[start, end)``:

==========================  =============================================================
count                       number of matching events (the value is not read)
sum, max, min               of the valid values
unique_count                number of distinct values (any JSON value but null)
latest                      the valid value of the last event (by time, then by id)
time_weighted_average       a gauge: each value holds from its event until the next event;
                            the average over the window weights each value by the time it
                            held. The value of the last event *before* the window holds
                            from ``start``; before any known value the gauge is 0.
==========================  =============================================================

A value is valid when it is a JSON number or a decimal string (``"0.05"``, ``"-1.5e3"``);
anything else (``true``, ``"abc"``, an object, a missing property) is skipped by every
aggregation but ``count`` and ``unique_count``; ``parse_value`` raises
``InvalidMeterValue`` (code ``invalid_meter_value``) for it, which ingest uses to reject
such events up front. Arithmetic is exact ``Decimal``: sums never round; an average is
exact when it terminates and has 28 significant digits otherwise.

A **weighted** ``sum`` meter has ``sources`` instead of one event type: its quantity is
the exact sum, over the sources, of ``multiplier`` x the sum of that source's valid values
(or x the number of its matching events, for a source without ``value``). An event
contributes to every source it matches (``weighted_value``, ``weighted_sum``).

Property paths are dotted object keys (``"usage.tokens"``); filters and ``group_by``
compare a property's *text* (strings as they are, numbers as written, ``true``/``false``).
Usage windows (``usage_windows``) are hours, days or months of a time zone's wall clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import MAX_PREC, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise

from tallybook.domain.catalog.model import Aggregation, Meter, MeterSource
from tallybook.domain.errors import ValidationError
from tallybook.domain.periods import (
    Anchor,
    Interval,
    Period,
    load_zone,
    period_anchor,
    periods_from,
    utc,
)

__all__ = [
    "DECIMAL_TEXT",
    "EXACT",
    "MISSING",
    "InvalidMeterValue",
    "InvalidPropertyPath",
    "Reading",
    "WindowSize",
    "aggregate",
    "dimension_text",
    "extract",
    "json_text_value",
    "matches",
    "parse_value",
    "reading",
    "split_path",
    "time_weighted_average",
    "try_value",
    "unique_key",
    "usage_windows",
    "weighted_sum",
    "weighted_value",
]


class InvalidMeterValue(ValidationError):
    """A meter's value is not a JSON number or a decimal string."""

    code = "invalid_meter_value"


class InvalidPropertyPath(ValidationError):
    code = "invalid_property_path"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: object = _Missing()
"""The value of a property path that is absent (or runs through a non-object)."""

# A decimal string: optional sign, digits with an optional point, optional short exponent.
# JSON numbers are a subset. PostgreSQL reuses this pattern (``~``) before ``::numeric``.
DECIMAL_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$"
_DECIMAL = re.compile(DECIMAL_TEXT)
# Sums and products of decimals never round; divisions use 28 significant digits.
EXACT = Context(prec=MAX_PREC)
_AVERAGE = Context(prec=28, rounding=ROUND_HALF_EVEN)
_MICROSECOND = timedelta(microseconds=1)


# --- reading properties -----------------------------------------------------------------


def split_path(path: str) -> tuple[str, ...]:
    """``"usage.tokens"`` -> ``("usage", "tokens")``; empty segments are an error."""
    parts = tuple(path.split("."))
    if any(part == "" or '"' in part for part in parts):
        raise InvalidPropertyPath(f"invalid property path {path!r}", details={"path": path})
    return parts


def extract(properties: Mapping[str, object], path: str | Sequence[str]) -> object:
    """The value at a dotted path, or ``MISSING``."""
    parts = split_path(path) if isinstance(path, str) else path
    current: object = properties
    for part in parts:
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def parse_value(raw: object) -> Decimal:
    """A JSON number or decimal string as an exact ``Decimal``; ``InvalidMeterValue`` else."""
    if isinstance(raw, bool) or raw is None or raw is MISSING:
        raise InvalidMeterValue(_value_message(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal | float):
        text = repr(raw) if isinstance(raw, float) else format(raw, "f")
        if not _DECIMAL.match(text):
            raise InvalidMeterValue(_value_message(raw))
        return Decimal(text)
    if isinstance(raw, str) and _DECIMAL.match(raw):
        try:
            return Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
            pass
    raise InvalidMeterValue(_value_message(raw))


def _value_message(raw: object) -> str:
    shown = "missing" if raw is MISSING else repr(raw)[:60]
    return f'meter value must be a JSON number or a decimal string such as "0.05", got {shown}'


def try_value(raw: object) -> Decimal | None:
    """``parse_value`` that returns None for an invalid value."""
    try:
        return parse_value(raw)
    except InvalidMeterValue:
        return None


def json_text_value(raw: str) -> Decimal | None:
    """The exact value of a raw JSON text: a number (``0.1``) or a decimal string
    (``"0.05"``); None for anything else. (SQLite hands values over as such text.)"""
    if raw.startswith('"'):
        try:
            return try_value(json.loads(raw))
        except ValueError:
            return None
    return try_value(raw)


def dimension_text(raw: object) -> str | None:
    """The text a filter or ``group_by`` compares; None when absent or null."""
    if raw is MISSING or raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float):
        return repr(raw)
    if isinstance(raw, Decimal):
        return str(raw)
    return json.dumps(raw, separators=(",", ":"), sort_keys=True, default=str)


def unique_key(raw: object) -> str | None:
    """What ``unique_count`` compares: numbers by value, strings by text, others as JSON."""
    if raw is MISSING or raw is None:
        return None
    if isinstance(raw, str):
        return "s:" + raw
    number = None if isinstance(raw, bool) else try_value(raw)
    if number is not None:
        return "n:" + ("0" if number == 0 else format(number.normalize(EXACT), "f"))
    return "j:" + json.dumps(raw, separators=(",", ":"), sort_keys=True, default=str)


def matches(meter_filter: Mapping[str, Sequence[str]], properties: Mapping[str, object]) -> bool:
    """True when every filtered property's text is one of its allowed values."""
    return all(
        dimension_text(extract(properties, name)) in allowed
        for name, allowed in meter_filter.items()
    )


# --- weighted meters --------------------------------------------------------------------


def weighted_value(
    sources: Sequence[MeterSource], event_type: str, properties: Mapping[str, object]
) -> Decimal:
    """What one event adds to a weighted meter: for each source of its type whose filter
    matches, ``multiplier`` x its valid value (nothing for an invalid or missing one), or
    ``multiplier`` for a source that counts events. Exact."""
    total = Decimal(0)
    for source in sources:
        if source.event_type != event_type or not matches(source.filter, properties):
            continue
        if source.value is None:
            total = EXACT.add(total, source.multiplier)
            continue
        value = try_value(extract(properties, source.value))
        if value is not None:
            total = EXACT.add(total, EXACT.multiply(source.multiplier, value))
    return total


def weighted_sum(parts: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """``sum(multiplier x part)`` over ``(multiplier, part)`` pairs, exactly: a weighted
    meter's quantity from each source's sum of values (or count of events). Trailing
    fractional zeros the products bring (``5000 x 0.0001 = 0.5000``) are dropped."""
    total = Decimal(0)
    for multiplier, part in parts:
        total = EXACT.add(total, EXACT.multiply(multiplier, part))
    if total == total.to_integral_value():
        return total.quantize(Decimal(1), context=EXACT)
    return total.normalize(EXACT)


# --- aggregation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Reading:
    """One event as a meter sees it: when, its id (ties), the raw value at the value path."""

    timestamp: datetime
    id: str = ""
    value: object = MISSING


def reading(
    meter: Meter, timestamp: datetime, event_id: str, properties: Mapping[str, object]
) -> Reading | None:
    """The meter's reading of an event of its type, or None when the filter drops it."""
    if not matches(meter.filter, properties):
        return None
    value = MISSING if meter.value is None else extract(properties, meter.value)
    return Reading(utc(timestamp), event_id, value)


def _values(readings: Sequence[Reading]) -> list[Decimal]:
    return [v for v in (try_value(r.value) for r in readings) if v is not None]


def _count(readings: Sequence[Reading]) -> Decimal:
    return Decimal(len(readings))


def _sum(readings: Sequence[Reading]) -> Decimal:
    total = Decimal(0)
    for value in _values(readings):
        total = EXACT.add(total, value)
    return total


def _max(readings: Sequence[Reading]) -> Decimal | None:
    return max(_values(readings), default=None)


def _min(readings: Sequence[Reading]) -> Decimal | None:
    return min(_values(readings), default=None)


def _unique_count(readings: Sequence[Reading]) -> Decimal:
    keys = {unique_key(r.value) for r in readings}
    keys.discard(None)
    return Decimal(len(keys))


def _latest(readings: Sequence[Reading]) -> Decimal | None:
    for item in sorted(readings, reverse=True):
        value = try_value(item.value)
        if value is not None:
            return value
    return None


_WINDOW_AGGREGATORS: dict[Aggregation, Callable[[Sequence[Reading]], Decimal | None]] = {
    Aggregation.COUNT: _count,
    Aggregation.SUM: _sum,
    Aggregation.MAX: _max,
    Aggregation.MIN: _min,
    Aggregation.UNIQUE_COUNT: _unique_count,
    Aggregation.LATEST: _latest,
}


def aggregate(
    aggregation: Aggregation, readings: Iterable[Reading], start: datetime, end: datetime
) -> Decimal | None:
    """Aggregate the readings of ``[start, end)``; None when max/min/latest have no value.

    For ``time_weighted_average`` pass the readings before ``start`` too (at least the
    last one): it is the value the gauge carries into the window.
    """
    start, end = utc(start), utc(end)
    ordered = sorted(readings)
    inside = [r for r in ordered if start <= r.timestamp < end]
    if aggregation is Aggregation.TIME_WEIGHTED_AVERAGE:
        before = _latest([r for r in ordered if r.timestamp < start])
        points = [(r.timestamp, v) for r in inside if (v := try_value(r.value)) is not None]
        return time_weighted_average(points, start, end, before or Decimal(0))
    return _WINDOW_AGGREGATORS[Aggregation(aggregation)](inside)


def time_weighted_average(
    points: Sequence[tuple[datetime, Decimal]],
    start: datetime,
    end: datetime,
    initial: Decimal = Decimal(0),
) -> Decimal:
    """Average of a step function over ``[start, end)``.

    ``points`` are ``(instant, value)`` in time order (for equal instants the last wins);
    ``initial`` holds from ``start`` until the first point. Points outside the window are
    ignored, so pass the value in force at ``start`` as ``initial``.
    """
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValidationError("the window must end after it starts", code="invalid_window")
    total_micros = (end - start) // _MICROSECOND
    area, current, since = Decimal(0), initial, start
    for instant, value in points:
        if not start <= instant < end:
            continue
        held = (instant - since) // _MICROSECOND
        area = EXACT.add(area, EXACT.multiply(current, Decimal(held)))
        current, since = value, instant
    area = EXACT.add(area, EXACT.multiply(current, Decimal((end - since) // _MICROSECOND)))
    return _AVERAGE.divide(area, Decimal(total_micros))


# --- usage windows ----------------------------------------------------------------------


class WindowSize(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


_QUARTER_HOUR = timedelta(minutes=15)
_MINUTE = timedelta(minutes=1)


def usage_windows(
    start: datetime, end: datetime, size: WindowSize | None, tz: str = "UTC", *, limit: int = 10_000
) -> list[Period]:
    """Consecutive windows covering ``[start, end)``: wall-clock minutes, hours, days or
    months of ``tz``; the first and last are clipped to ``start`` and ``end``.
    ``None``: one window. More than ``limit`` windows is an error (``too_many_windows``).
    """
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValidationError(
            "'from' must be before 'to'",
            code="invalid_range",
            details={"from": str(start), "to": str(end)},
        )
    load_zone(tz)  # InvalidTimezone (code invalid_timezone) for a bad name
    if size is None:
        return [Period(start, end)]
    if size in (WindowSize.MINUTE, WindowSize.HOUR):
        edges = _clock_edges(start, end, tz, size, limit)
    else:
        edges = []
        interval = Interval.DAY if size is WindowSize.DAY else Interval.MONTH
        anchor = period_anchor(start, Anchor.CALENDAR, interval, tz)
        for period in periods_from(anchor, interval, tz, start=start):
            if period.end >= end:
                break
            edges.append(period.end)
            _check_limit(len(edges), limit)
    bounds = [start, *edges, end]
    return [Period(low, high) for low, high in pairwise(bounds)]


def _clock_edges(
    start: datetime, end: datetime, tz: str, size: WindowSize, limit: int
) -> list[datetime]:
    """Instants in ``(start, end)`` where the zone's clock shows a full minute or hour.

    Every zone offset in use is a whole number of minutes, and a multiple of 15 minutes,
    so scanning UTC minutes (quarter-hours for hours) finds every local boundary,
    including around daylight-saving changes.
    """
    zone = load_zone(tz)
    step = _MINUTE if size is WindowSize.MINUTE else _QUARTER_HOUR
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    instant = epoch + ((start - epoch) // step + 1) * step
    edges: list[datetime] = []
    while instant < end:
        local = instant.astimezone(zone)
        if local.second == 0 and (size is WindowSize.MINUTE or local.minute == 0):
            edges.append(instant)
            _check_limit(len(edges), limit)
        instant += step
    return edges


def _check_limit(count: int, limit: int) -> None:
    if count >= limit:
        raise ValidationError(
            f"too many windows (more than {limit}): use a larger window or a shorter range",
            code="too_many_windows",
            details={"limit": limit},
        )
