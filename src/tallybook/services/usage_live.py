"""Live usage from rollups: a ``UsageReader`` whose cost is O(hours in the range).

``LiveUsage.aggregate`` answers ``count``, ``sum``, ``min`` and ``max`` meters from the
hourly rollups (``domain.metering.rollups``, written in the ingest transaction) and
everything else from the raw events (``services.usage.UsageService``):

- the whole UTC hours inside ``[start, end)`` come from the rollup cells; the partial
  hours at either edge (a period that starts at a customer's local midnight in a
  half-hour zone such as Asia/Kolkata starts at :30 UTC) are read from the raw events,
  at most two hours' worth, so the answer is exact for every time zone;
- ``unique_count``, ``latest`` and ``time_weighted_average`` meters, weighted meters
  (``sources``: several event types), per-event values
  (percentage pricing), a ``group_by`` the meter does not declare, and ranges shorter
  than an hour are read from the raw events (the documented fallback);
- a meter whose rollup definition is not stored yet is backfilled once, on first read
  (``ports.RollupStore.prepare``, which also drops definitions no meter uses any more);
- a range holding events the rollup could not place exactly (``Cell.raw``: dimension
  values that are neither strings, booleans nor 64-bit integers) is read from the raw
  events.

So rollups are never wrong, at worst not used. Billing runs keep reading raw events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.instants import from_micros, to_micros
from tallybook.domain.metering.meters import EXACT
from tallybook.domain.metering.rollups import HOUR_MICROS, Cell, merged, rolled_up, rollup_def
from tallybook.services.ports import Clock, PlanReader, RollupStore, UsageKey, UsageReader


class LiveUsage:
    """``ports.UsageReader`` over rollups, falling back to ``raw`` (see module docstring)."""

    def __init__(self, raw: UsageReader, store: RollupStore, catalog: PlanReader, clock: Clock):
        self._raw = raw
        self._store = store
        self._catalog = catalog
        self._clock = clock

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
        """One value per customer (and ``group_by`` value) over ``[start, end)``, exactly
        as ``UsageService.aggregate`` answers from the raw events."""
        if customers is not None:
            customers = [c for c in dict.fromkeys(customers) if "\x00" not in c]
            if not customers:
                return {}
        s, e = to_micros(start), to_micros(end)
        first, last = -(-s // HOUR_MICROS) * HOUR_MICROS, e // HOUR_MICROS * HOUR_MICROS
        if (
            not rolled_up(meter)
            or (group_by is not None and group_by not in meter.group_by)
            or first >= last
        ):
            return self._raw_values(tenant_id, meter, start, end, customers, group_by)
        cells = self._cells(tenant_id, meter, customers, first, last)
        if cells is None:
            return self._raw_values(tenant_id, meter, start, end, customers, group_by)
        index = None if group_by is None else meter.group_by.index(group_by)
        grouped: dict[UsageKey, list[Cell]] = {}
        for customer, dims, cell in cells:
            key = UsageKey(customer, None if index is None else dims[index])
            grouped.setdefault(key, []).append(cell)
        values: dict[UsageKey, Decimal] = {}
        for key, some in grouped.items():
            value = merged(some).value(meter.aggregation)
            if value is not None:
                values[key] = value
        for low, high in ((s, first), (last, e)):
            if low < high:
                edge = self._raw_values(
                    tenant_id, meter, from_micros(low), from_micros(high), customers, group_by
                )
                _combine_into(values, edge, meter.aggregation)
        return values

    def event_values(
        self, tenant_id: str, meter: Meter, customer: str, start: datetime, end: datetime
    ) -> list[Decimal]:
        """Per-event values: always from the raw events."""
        return self._raw.event_values(tenant_id, meter, customer, start, end)

    def _cells(
        self,
        tenant_id: str,
        meter: Meter,
        customers: Sequence[str] | None,
        first: int,
        last: int,
    ) -> list[tuple[str, tuple[str | None, ...], Cell]] | None:
        """The meter's cells of whole hours ``[first, last)``; None when the raw events
        must answer (a cell the rollup could not place exactly)."""
        definition = rollup_def(meter)
        cells = self._store.cells(tenant_id, definition.fingerprint, customers, first, last)
        if cells is None:
            meters = self._catalog.list_meters(tenant_id)
            keep = {rollup_def(m).fingerprint for m in meters if rolled_up(m)}
            self._store.prepare(tenant_id, definition, keep, self._clock.now())
            cells = self._store.cells(tenant_id, definition.fingerprint, customers, first, last)
        if cells is None or any(cell.raw for _, _, cell in cells):
            return None
        return cells

    def _raw_values(
        self,
        tenant_id: str,
        meter: Meter,
        start: datetime,
        end: datetime,
        customers: Sequence[str] | None,
        group_by: str | None,
    ) -> Mapping[UsageKey, Decimal]:
        return self._raw.aggregate(
            tenant_id, meter, start, end, customers=customers, group_by=group_by
        )


def _combine_into(
    values: dict[UsageKey, Decimal], more: Mapping[UsageKey, Decimal], aggregation: Aggregation
) -> None:
    for key, value in more.items():
        found = values.get(key)
        if found is None:
            values[key] = value
        elif aggregation is Aggregation.MAX:
            values[key] = max(found, value)
        elif aggregation is Aggregation.MIN:
            values[key] = min(found, value)
        else:
            values[key] = EXACT.add(found, value)
