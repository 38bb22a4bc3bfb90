"""Incremental rollups: exact partial aggregates per (meter definition, customer,
dimension values, hour), so live usage costs O(hours), not O(events).

A ``RollupDef`` is what a meter reads from events -- its ``event_type``, ``value`` path,
``filter`` and ``group_by`` -- named by a ``fingerprint`` (a digest of those four, so
meters that read the same events share one rollup and a changed meter gets a new one).
The aggregation is not part of it: every cell keeps all of

    count   matching events (``count`` meters)
    sum     of the valid values (``sum``; 0 when none is valid)
    min     smallest valid value (None when none is valid)
    max     largest valid value (None when none is valid)
    raw     events the rollup cannot place exactly (see below)

Cells add up (``Cell.merge``): count, sum and raw add, min and max compare, which is why
hours can be summed into any window made of whole hours. ``unique_count``, ``latest``,
``time_weighted_average`` and weighted meters (``sources``) are not rolled up: readers
answer them from raw events (``rolled_up``).

**Exactly as the SQL reads events** (``adapters/store/usage_sql.py``): a value is valid
when it is a JSON number or a decimal string (``meters.try_value``); filters and
``group_by`` compare a property's text. Texts are the same on both stores for strings,
``true``/``false``, null/missing and integers of 64 bits; for any other dimension value
(a fraction, a huge integer, an object, an array) the stores spell the text differently,
so such an event only counts in ``raw``. A reader that meets ``raw > 0`` in its range
answers from the raw events instead (``services.usage_live``): rollups are never wrong,
at worst not used. Values must be parsed exactly (fractions as ``Decimal``):
``cell_of`` raises ``NeedsExactParse`` when handed a ``float``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.metering.meters import EXACT, MISSING, extract, split_path, try_value

HOUR_MICROS = 3_600_000_000
ROLLED_UP = frozenset({Aggregation.COUNT, Aggregation.SUM, Aggregation.MIN, Aggregation.MAX})
_INT64 = 2**63
ZERO = Decimal(0)

Path = tuple[str, ...]


class NeedsExactParse(Exception):
    """A value read by a rollup was parsed as a float: parse the event again exactly."""


@dataclass(frozen=True, slots=True)
class RollupDef:
    """What one or more meters read from events (see the module docstring)."""

    fingerprint: str
    event_type: str
    value: Path | None
    filter: tuple[tuple[Path, tuple[str, ...]], ...]
    group_by: tuple[Path, ...]

    def as_dict(self) -> dict[str, object]:
        """The definition as JSON-ready data (stored next to its rollups)."""
        return {
            "event_type": self.event_type,
            "value": None if self.value is None else list(self.value),
            "filter": [[list(path), list(allowed)] for path, allowed in self.filter],
            "group_by": [list(path) for path in self.group_by],
        }

    @staticmethod
    def from_dict(fingerprint: str, data: Mapping[str, object]) -> RollupDef:
        """The inverse of ``as_dict``."""
        value = data.get("value")
        raw_filter = data.get("filter") or []
        raw_group = data.get("group_by") or []
        assert isinstance(raw_filter, list) and isinstance(raw_group, list)
        return RollupDef(
            fingerprint=fingerprint,
            event_type=str(data["event_type"]),
            value=None if value is None else tuple(value),  # type: ignore[arg-type]
            filter=tuple((tuple(p), tuple(a)) for p, a in raw_filter),
            group_by=tuple(tuple(p) for p in raw_group),
        )

    def cell_of(self, properties: Mapping[str, object]) -> tuple[tuple[str | None, ...], Cell]:
        """The event's dimension texts and its one-event cell (count 0 when the filter
        drops it). ``NeedsExactParse`` when a value it reads is a float."""
        for path, allowed in self.filter:
            text = _text(extract(properties, path))
            if text is _UNSURE:
                return (), Cell(raw=1)
            if text not in allowed:
                return (), Cell(count=0)
        dims: list[str | None] = []
        for path in self.group_by:
            text = _text(extract(properties, path))
            if text is _UNSURE:
                return (), Cell(raw=1)
            dims.append(text)  # type: ignore[arg-type]
        if self.value is None:
            return tuple(dims), Cell(count=1)
        raw = extract(properties, self.value)
        if isinstance(raw, float):
            raise NeedsExactParse
        value = try_value(raw)
        return tuple(dims), Cell(count=1, sum=value or ZERO, min=value, max=value)


@dataclass(frozen=True, slots=True)
class Cell:
    """Partial aggregates of some events (one hour of one series, or a sum of hours)."""

    count: int = 0
    sum: Decimal = ZERO
    min: Decimal | None = None
    max: Decimal | None = None
    raw: int = 0

    def merge(self, other: Cell) -> Cell:
        return Cell(
            count=self.count + other.count,
            sum=EXACT.add(self.sum, other.sum),
            min=_pick(min, self.min, other.min),
            max=_pick(max, self.max, other.max),
            raw=self.raw + other.raw,
        )

    def value(self, aggregation: Aggregation) -> Decimal | None:
        """The meter's value over these events; None when it has none (no events; or,
        for min/max, no valid value) -- as the raw SQL answers."""
        if self.count == 0:
            return None
        if aggregation is Aggregation.COUNT:
            return Decimal(self.count)
        if aggregation is Aggregation.SUM:
            return self.sum
        return self.min if aggregation is Aggregation.MIN else self.max


def merged(cells: Iterable[Cell]) -> Cell:
    """One cell of all ``cells`` (their events together): ``Cell.merge`` folded, without
    a cell per step (live usage folds a month of hour cells per request)."""
    count = raw = 0
    total = ZERO
    lows: list[Decimal] = []
    highs: list[Decimal] = []
    add = EXACT.add
    for cell in cells:
        count += cell.count
        raw += cell.raw
        total = add(total, cell.sum)
        if cell.min is not None:
            lows.append(cell.min)
        if cell.max is not None:
            highs.append(cell.max)
    return Cell(count, total, min(lows) if lows else None, max(highs) if highs else None, raw)


def _pick(choose: object, left: Decimal | None, right: Decimal | None) -> Decimal | None:
    if left is None:
        return right
    if right is None:
        return left
    return choose(left, right)  # type: ignore[operator,no-any-return]


class _Unsure:
    pass


_UNSURE = _Unsure()


def _text(raw: object) -> str | _Unsure | None:
    """A filter or group_by text both stores spell alike, else ``_UNSURE``."""
    if raw is MISSING or raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and -_INT64 <= raw < _INT64:
        return str(raw)
    return _UNSURE


def rolled_up(meter: Meter) -> bool:
    """Whether rollups answer ``meter``: ``count``/``sum``/``min``/``max`` of one event
    type (a weighted meter with ``sources`` is read from the raw events)."""
    return meter.aggregation in ROLLED_UP and not meter.sources and meter.event_type is not None


def rollup_def(meter: Meter) -> RollupDef:
    """The rollup definition a meter reads (its fingerprint included); the meter must be
    ``rolled_up`` (ValueError otherwise)."""
    if meter.event_type is None or meter.sources:
        raise ValueError(f"meter {meter.key!r} reads several event types: no rollup")
    value = split_path(meter.value) if meter.value else None
    filters = tuple(
        (split_path(name), tuple(sorted(allowed))) for name, allowed in sorted(meter.filter.items())
    )
    group_by = tuple(split_path(name) for name in meter.group_by)
    body = {
        "event_type": meter.event_type,
        "value": None if value is None else list(value),
        "filter": [[list(p), list(a)] for p, a in filters],
        "group_by": [list(p) for p in group_by],
    }
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    fingerprint = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    return RollupDef(fingerprint, meter.event_type, value, filters, group_by)


def hour_of(ts_micros: int) -> int:
    """The start of the UTC hour holding ``ts_micros`` (microseconds since the epoch)."""
    return ts_micros - ts_micros % HOUR_MICROS


CellKey = tuple[str, str, tuple[str | None, ...], int]  # fingerprint, customer, dims, hour


class Accumulator:
    """Many events' cells, added fast (the ingest hot path): per cell a mutable
    ``[count, sum, min, max, raw]`` where integer values stay Python ints (exact) until
    ``cells`` turns them into ``Cell`` values (``Cell.merge`` of each event's
    ``RollupDef.cell_of``, faster)."""

    def __init__(self) -> None:
        self._acc: dict[CellKey, list[object]] = {}

    def add(
        self,
        definition: RollupDef,
        customer: str,
        ts_micros: int,
        properties: Mapping[str, object],
    ) -> None:
        """Add one event (parsed exactly); ``NeedsExactParse`` for a float value."""
        dims, cell = _read(definition, properties)
        if cell is None:
            return
        key = (definition.fingerprint, customer, dims, ts_micros - ts_micros % HOUR_MICROS)
        found = self._acc.get(key)
        if found is None:
            self._acc[key] = cell
            return
        found[0] += cell[0]  # type: ignore[operator]
        found[4] += cell[4]  # type: ignore[operator]
        value = cell[1]
        if cell[2] is not None:  # a valid value: sum, min, max
            found[1] = _add(found[1], value)
            if found[2] is None or value < found[2]:  # type: ignore[operator]
                found[2] = value
            if found[3] is None or value > found[3]:  # type: ignore[operator]
                found[3] = value

    def cells(self) -> dict[CellKey, Cell]:
        return {
            key: Cell(
                int(acc[0]),  # type: ignore[call-overload]
                _decimal(acc[1]) or ZERO,
                _decimal(acc[2]),
                _decimal(acc[3]),
                int(acc[4]),  # type: ignore[call-overload]
            )
            for key, acc in self._acc.items()
        }

    def __len__(self) -> int:
        return len(self._acc)


def _read(
    definition: RollupDef, properties: Mapping[str, object]
) -> tuple[tuple[str | None, ...], list[object] | None]:
    """An event's dims and its one-event accumulator (None: the filter drops it)."""
    if definition.value is None or definition.filter or definition.group_by:
        dims, cell = definition.cell_of(properties)
        if cell.count == 0 and cell.raw == 0:
            return dims, None
        return dims, [cell.count, cell.sum, cell.min, cell.max, cell.raw]
    raw = extract(properties, definition.value)  # the common case: a plain value meter
    if type(raw) is int:
        return (), [1, raw, raw, raw, 0]
    if isinstance(raw, float):
        raise NeedsExactParse
    value = try_value(raw)
    return (), [1, value or ZERO, value, value, 0]


def _add(left: object, right: object) -> object:
    if type(left) is int and type(right) is int:
        return left + right
    return EXACT.add(Decimal(left), Decimal(right))  # type: ignore[arg-type]


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(value)  # type: ignore[arg-type]
