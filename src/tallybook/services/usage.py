"""Usage: meter aggregates over half-open windows, per customer (``UsageReader``).

One SQL query per meter and time range (``adapters.store.usage_sql``), grouped per
customer, per ``group_by`` value and, for windowed reports, per time bucket: the largest
width that divides every window edge (an hour for hour windows and for day windows
across a daylight-saving change, a day for UTC days). Buckets fold into windows here:
counts and sums add, max/min compare, ``latest`` keeps the last by (time, id),
``unique_count`` unions distinct values. ``time_weighted_average`` reads the range's
values plus each series' carry-in and integrates in ``domain.metering.meters``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from math import gcd

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.errors import ValidationError
from tallybook.domain.instants import from_micros, to_micros
from tallybook.domain.metering.meters import (
    EXACT,
    WindowSize,
    split_path,
    time_weighted_average,
    usage_windows,
)
from tallybook.domain.metering.usage import Partial, Selection, Series, SourceSelection
from tallybook.domain.periods import Period, utc
from tallybook.services.ports import PlanReader, UsageKey, UsageSource

Windows = dict[Series, dict[int, Decimal]]
_ZERO_WHEN_EMPTY = frozenset(
    {
        Aggregation.COUNT,
        Aggregation.SUM,
        Aggregation.UNIQUE_COUNT,
        Aggregation.TIME_WEIGHTED_AVERAGE,
    }
)


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """One customer (and ``group_by`` values): a value per window, and the whole range's."""

    customer: str
    group: Mapping[str, str | None]
    values: list[tuple[Period, Decimal | None]]
    total: Decimal | None


@dataclass(frozen=True, slots=True)
class UsageReport:
    meter: Meter
    start: datetime
    end: datetime
    window: WindowSize | None
    tz: str
    windows: list[Period]
    series: list[UsageSeries] = field(default_factory=list)


class UsageService:
    """Implements ``UsageReader`` (services.ports) and the usage endpoints' reports."""

    def __init__(self, sql: UsageSource, catalog: PlanReader):
        self._sql = sql
        self._catalog = catalog

    # -- UsageReader ---------------------------------------------------------------------

    def aggregate(
        self,
        tenant_id: str,
        meter: Meter,
        start: datetime,
        end: datetime,
        *,
        customers: Sequence[str] | None = None,
        group_by: str | None = None,
    ) -> Mapping[UsageKey, Decimal]:
        """One value per customer (and ``group_by`` value) over ``[start, end)``."""
        if customers is not None and not customers:
            return {}
        dims = (group_by,) if group_by else ()
        window = Period(start, end)
        values = self._window_values(tenant_id, meter, [window], customers, dims)
        return {
            UsageKey(customer, group[0] if group_by else None): by_window[0]
            for (customer, group), by_window in values.items()
            if 0 in by_window
        }

    def event_values(
        self, tenant_id: str, meter: Meter, customer: str, start: datetime, end: datetime
    ) -> list[Decimal]:
        """Each matching event's valid value in ``[start, end)``, in time order.

        Raises ``ValidationError`` (``unsupported_rating``) for a weighted meter: its
        events have no single value (the catalog refuses per-event pricing on one)."""
        if meter.sources:
            raise ValidationError(
                f"meter {meter.key!r} has sources: it has no per-event values",
                code="unsupported_rating",
                details={"meter": meter.key},
            )
        selection = _selection(tenant_id, meter, Period(start, end), (customer,), ())
        return [p.value for p in self._sql.readings(selection)]

    # -- reports (GET /v1/meters/{key}/usage, the OpenMeter query) -----------------------

    def report(
        self,
        tenant_id: str,
        meter_key: str,
        start: datetime,
        end: datetime,
        *,
        window: WindowSize | None = None,
        tz: str = "UTC",
        customers: Sequence[str] | None = None,
        group_by: Sequence[str] = (),
        filters: Mapping[str, Sequence[str]] | None = None,
        fill: bool = True,
    ) -> UsageReport:
        """Values per window of ``tz`` (minute, hour, day, month; None = the whole range).

        ``filters`` narrow the meter's own filter (``{"model": ["gpt-4o"]}``). With
        ``fill``, every series found gets every window, empty ones as 0 (null for max,
        min and latest); a single series asked for (one customer, no ``group_by``) is
        reported even with no usage at all.
        """
        meter = _narrowed(self._catalog.get_meter(tenant_id, meter_key), filters or {})
        _check_group_by(meter, group_by)
        windows = usage_windows(start, end, window, tz)
        values = self._window_values(tenant_id, meter, windows, customers, tuple(group_by))
        single = customers is not None and len(customers) == 1 and not group_by
        if fill and single and customers is not None:
            values.setdefault((customers[0], ()), {})
        totals = self._totals(tenant_id, meter, windows, customers, tuple(group_by), values)
        series = [
            UsageSeries(
                customer,
                dict(zip(group_by, group, strict=True)),
                _values(meter, windows, by_window, fill),
                totals.get((customer, group)),
            )
            for (customer, group), by_window in sorted(values.items(), key=_series_order)
        ]
        return UsageReport(meter, utc(start), utc(end), window, tz, windows, series)

    def _totals(
        self,
        tenant_id: str,
        meter: Meter,
        windows: list[Period],
        customers: Sequence[str] | None,
        group_by: tuple[str, ...],
        values: Windows,
    ) -> dict[Series, Decimal | None]:
        if len(windows) > 1 and meter.aggregation in (
            Aggregation.UNIQUE_COUNT,
            Aggregation.TIME_WEIGHTED_AVERAGE,
        ):
            whole = [Period(windows[0].start, windows[-1].end)]
            totals = self._window_values(tenant_id, meter, whole, customers, group_by)
            return {s: totals.get(s, {}).get(0, _empty(meter)) for s in values}
        return {s: _fold_windows(meter.aggregation, v, _empty(meter)) for s, v in values.items()}

    # -- the engine ----------------------------------------------------------------------

    def _window_values(
        self,
        tenant_id: str,
        meter: Meter,
        windows: list[Period],
        customers: Sequence[str] | None,
        group_by: tuple[str, ...],
    ) -> Windows:
        if meter.sources and meter.aggregation is not Aggregation.SUM:
            # the catalog never stores one; every usage source would otherwise differ
            raise ValidationError(
                f"meter {meter.key!r} has sources: it must aggregate with sum",
                code="invalid_meter",
                details={"meter": meter.key},
            )
        whole = Period(windows[0].start, windows[-1].end)
        selection = _selection(tenant_id, meter, whole, customers, group_by)
        if meter.aggregation is Aggregation.TIME_WEIGHTED_AVERAGE:
            return self._gauge(selection, windows)
        edges = [to_micros(w.start) for w in windows[1:]]
        buckets = bucket_plan(selection.start, edges)
        partials = self._sql.partials(selection, meter.aggregation, buckets)
        return fold(meter.aggregation, partials, buckets, edges)

    def _gauge(self, selection: Selection, windows: list[Period]) -> Windows:
        carried = {p.series: p.value for p in self._sql.readings(selection, before=True)}
        points: dict[Series, list[tuple[datetime, Decimal]]] = {s: [] for s in carried}
        for p in self._sql.readings(selection):
            points.setdefault(p.series, []).append((from_micros(p.instant), p.value))
        result: Windows = {}
        for series, series_points in points.items():
            instants = [instant for instant, _ in series_points]
            current = carried.get(series, Decimal(0))
            by_window: dict[int, Decimal] = {}
            for index, window in enumerate(windows):
                low = bisect_left(instants, window.start)
                high = bisect_left(instants, window.end)
                inside = series_points[low:high]
                by_window[index] = time_weighted_average(inside, window.start, window.end, current)
                current = inside[-1][1] if inside else current
            result[series] = by_window
        return result


# -- planning and folding ------------------------------------------------------------------


def bucket_plan(start: int, edges: Sequence[int]) -> tuple[int, int] | None:
    """``(origin, width)`` of buckets whose boundaries include every window edge."""
    if not edges:
        return None
    diffs = [high - low for low, high in pairwise(edges)]
    width = gcd(*diffs) if diffs else edges[0] - start
    steps = -(-(edges[0] - start) // width)
    return edges[0] - steps * width, width


def fold(
    aggregation: Aggregation,
    partials: Sequence[Partial],
    buckets: tuple[int, int] | None,
    edges: Sequence[int],
) -> Windows:
    """Per-bucket SQL partials -> one value per series and window."""
    result: Windows = {}
    latest: dict[tuple[Series, int], tuple[int, str]] = {}
    keys: dict[tuple[Series, int], set[str]] = {}
    for p in partials:
        window = 0 if buckets is None else bisect_right(edges, buckets[0] + p.bucket * buckets[1])
        windows = result.setdefault(p.series, {})
        if p.key is not None:
            keys.setdefault((p.series, window), set()).add(p.key)
            windows[window] = Decimal(len(keys[(p.series, window)]))
        elif window not in windows:
            windows[window] = p.value
            latest[(p.series, window)] = (p.instant, p.id)
        elif aggregation is Aggregation.LATEST:
            if (p.instant, p.id) > latest[(p.series, window)]:
                windows[window] = p.value
                latest[(p.series, window)] = (p.instant, p.id)
        else:
            windows[window] = _combine(aggregation, windows[window], p.value)
    return result


def _combine(aggregation: Aggregation, left: Decimal, right: Decimal) -> Decimal:
    if aggregation is Aggregation.MAX:
        return max(left, right)
    if aggregation is Aggregation.MIN:
        return min(left, right)
    return EXACT.add(left, right)  # count, sum (unique_count by bucket is keyed)


def _fold_windows(
    aggregation: Aggregation, by_window: Mapping[int, Decimal], empty: Decimal | None
) -> Decimal | None:
    """The whole range from its windows (count, sum, max, min, latest; one window: it)."""
    ordered = [by_window[w] for w in sorted(by_window)]
    if not ordered:
        return empty
    if aggregation is Aggregation.LATEST or len(ordered) == 1:
        return ordered[-1]
    total = ordered[0]
    for value in ordered[1:]:
        total = _combine(aggregation, total, value)
    return total


def _values(
    meter: Meter, windows: list[Period], by_window: Mapping[int, Decimal], fill: bool
) -> list[tuple[Period, Decimal | None]]:
    if fill:
        return [(w, by_window.get(i, _empty(meter))) for i, w in enumerate(windows)]
    return [(windows[i], by_window[i]) for i in sorted(by_window)]


def _empty(meter: Meter) -> Decimal | None:
    return Decimal(0) if meter.aggregation in _ZERO_WHEN_EMPTY else None


def _series_order(item: tuple[Series, object]) -> tuple[str, tuple[str, ...]]:
    (customer, group), _ = item
    return customer, tuple("" if g is None else g for g in group)


def _narrowed(meter: Meter, filters: Mapping[str, Sequence[str]]) -> Meter:
    """The meter with a query's filters added to its own (to each source's, if weighted)."""
    if not filters:
        return meter
    if meter.sources:
        sources = tuple(replace(s, filter=_narrow(s.filter, filters)) for s in meter.sources)
        return replace(meter, sources=sources)
    return replace(meter, filter=_narrow(meter.filter, filters))


def _narrow(
    own: Mapping[str, tuple[str, ...]], filters: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    combined = dict(own)
    for name, allowed in filters.items():
        kept = tuple(v for v in allowed if name not in combined or v in combined[name])
        combined[name] = kept
    return combined


def _check_group_by(meter: Meter, group_by: Sequence[str]) -> None:
    unknown = [name for name in group_by if name not in meter.group_by]
    if unknown or len(set(group_by)) != len(group_by):
        allowed = ", ".join(meter.group_by) or "nothing"
        raise ValidationError(
            f"meter {meter.key!r} groups by {allowed}; cannot group by {', '.join(unknown)}",
            code="invalid_group_by",
            details={"group_by": list(group_by), "allowed": list(meter.group_by)},
        )


def _selection(
    tenant_id: str,
    meter: Meter,
    period: Period,
    customers: Sequence[str] | None,
    group_by: tuple[str, ...],
) -> Selection:
    return Selection(
        tenant_id=tenant_id,
        event_type=meter.event_type or "",
        start=to_micros(period.start),
        end=to_micros(period.end),
        value=split_path(meter.value) if meter.value else None,
        filter=_filter(meter.filter),
        group_by=tuple(split_path(name) for name in group_by),
        customers=None if customers is None else tuple(dict.fromkeys(_clean(customers))),
        sources=tuple(
            SourceSelection(
                event_type=source.event_type,
                value=split_path(source.value) if source.value else None,
                multiplier=source.multiplier,
                filter=_filter(source.filter),
            )
            for source in meter.sources
        ),
    )


def _filter(
    meter_filter: Mapping[str, Sequence[str]],
) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    return tuple((split_path(k), tuple(_clean(v))) for k, v in sorted(meter_filter.items()))


def _clean(values: Sequence[str]) -> list[str]:
    """Ids with a NUL match nothing (no stored id holds one): leave them out."""
    return [value for value in values if "\x00" not in value]
