"""``ports.UsageSource`` on ClickHouse: the same partials as ``adapters.store.usage_sql``.

One SQL text per query shape, run by either executor (chDB or clickhouse-connect) with
typed parameters. Every read is ``FROM events FINAL``: a row shipped twice and not yet
merged is read once. Scoped by tenant and event type, the leading columns of the
table's sorting key.

**Exactness.** A value is valid when its text matches ``meters.DECIMAL_TEXT`` (numbers as
sent, decimal strings). Sums, maxima and minima run in ``Decimal256(SCALE)`` over the
values that fit it exactly; the few that do not (``schema.wide``) come back as text
(``groupArrayIf``) and are combined here with ``Decimal``. Results leave ClickHouse as
``toString`` text, never a float. ``latest`` and readings return the value's text.

**Weighted meters** (``Selection.sources``): one query, ``has(types, type)`` in the
WHERE clause and per source its sum (``sumIf``/``groupArrayIf`` under the source's type
and filter) or count (``countIf``), weighted in Python (``meters.weighted_sum``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from tallybook.adapters.clickhouse.executors import Executor, Params
from tallybook.adapters.clickhouse.schema import SCALE, VALUE_PATTERN, quote_name
from tallybook.domain.catalog.model import Aggregation
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import EXACT, try_value, weighted_sum
from tallybook.domain.metering.usage import Partial, Selection, Series, SourceSelection

_TEXT = "properties[{vp:String}]"
_VALID = f"(mapContains(properties, {{vp:String}}) AND match({_TEXT}, {{re:String}}))"
_NARROW = f"({_VALID} AND NOT has(wide, {{vp:String}}))"
_VALUE = f"if({_NARROW}, toDecimal256OrNull({_TEXT}, {SCALE}), NULL)"
_WIDE = f"groupArrayIf({_TEXT}, {_VALID} AND has(wide, {{vp:String}}))"
_KEY = (
    "multiIf(mapContains(keys, {vp:String}), keys[{vp:String}], "
    f"mapContains(properties, {{vp:String}}), concat('s:', {_TEXT}), NULL)"
)
_SQL_AGGREGATE = {Aggregation.SUM: "sum", Aggregation.MAX: "max", Aggregation.MIN: "min"}


class ClickHouseUsage:
    """Implements ``ports.UsageSource`` over the ``events`` table of ``executor``."""

    def __init__(self, executor: Executor):
        self._run = executor
        self._table = f"{quote_name(executor.database)}.events FINAL"

    def partials(
        self,
        selection: Selection,
        aggregation: Aggregation,
        buckets: tuple[int, int] | None = None,
    ) -> list[Partial]:
        """Aggregate per series (and per ``(origin, width)`` bucket when given)."""
        if selection.sources:
            return self._weighted(selection, aggregation, buckets)
        params: Params = {}
        columns, names = self._groups(selection, params, buckets)
        where = self._where(selection, params)
        grouped = ", ".join(names)
        width = len(names)
        if aggregation is Aggregation.COUNT:
            sql = f"SELECT {columns}, count() FROM {self._table} WHERE {where} GROUP BY {grouped}"
            return [
                _partial(r, selection, buckets, Decimal(int(r[width])))
                for r in self._q(sql, params)
            ]
        if aggregation in _SQL_AGGREGATE:
            fn = _SQL_AGGREGATE[aggregation]
            sql = (
                f"SELECT {columns}, toString({fn}({_VALUE})), {_WIDE} "
                f"FROM {self._table} WHERE {where} GROUP BY {grouped}"
            )
            partials = []
            for r in self._q(sql, params):
                value = _combine(aggregation, r[width], r[width + 1])
                if value is not None:
                    partials.append(_partial(r, selection, buckets, value))
            return partials
        if aggregation is Aggregation.UNIQUE_COUNT:
            if buckets is None:
                sql = (
                    f"SELECT {columns}, uniqExact({_KEY}) FROM {self._table} "
                    f"WHERE {where} GROUP BY {grouped}"
                )
                return [
                    _partial(r, selection, buckets, Decimal(int(r[width])))
                    for r in self._q(sql, params)
                ]
            sql = (
                f"SELECT DISTINCT {columns}, {_KEY} AS k FROM {self._table} "
                f"WHERE {where} AND k IS NOT NULL"
            )
            return [
                _partial(r, selection, buckets, Decimal(1), key=str(r[width]))
                for r in self._q(sql, params)
            ]
        return self._latest(selection, buckets, before=False)

    def _weighted(
        self, selection: Selection, aggregation: Aggregation, buckets: tuple[int, int] | None
    ) -> list[Partial]:
        """A weighted meter in one query: per source, a sum of its values (narrow part
        and wide texts) or a count of its events, each under ``If(<its type and
        filter>)``; the parts are weighted here (``meters.weighted_sum``), so an event
        matching two sources counts for both (as on the SQL stores)."""
        if aggregation is not Aggregation.SUM:  # the catalog refuses it; never guess
            raise ValidationError(
                "a meter with sources must aggregate with sum", code="invalid_meter"
            )
        params: Params = {}
        columns, names = self._groups(selection, params, buckets)
        where = self._where(selection, params)
        aggregates: list[str] = []
        for index, source in enumerate(selection.sources):
            match = _source_match(index, source, params)
            if source.value is None:
                aggregates.append(f"countIf({match})")
                continue
            name = f"vp{index}"
            params[name] = ".".join(source.value)
            aggregates.append(f"toString(sumIf({_at(_VALUE, name)}, {match}))")
            wide = f"{_at(_VALID, name)} AND has(wide, {{{name}:String}}) AND {match}"
            aggregates.append(f"groupArrayIf({_at(_TEXT, name)}, {wide})")
        sql = (
            f"SELECT {columns}, {', '.join(aggregates)} FROM {self._table} "
            f"WHERE {where} GROUP BY {', '.join(names)}"
        )
        partials = []
        for r in self._q(sql, params):
            parts, at = [], len(names)
            for source in selection.sources:
                if source.value is None:
                    part = Decimal(int(r[at]))
                    at += 1
                else:
                    part = _combine(Aggregation.SUM, r[at], r[at + 1]) or Decimal(0)
                    at += 2
                parts.append((source.multiplier, part))
            partials.append(_partial(r, selection, buckets, weighted_sum(parts)))
        return partials

    def readings(self, selection: Selection, *, before: bool = False) -> list[Partial]:
        """Every valid value in the range, by series then time; ``before``: the last
        valid value of each series before ``selection.start`` (a gauge's carry-in)."""
        if before:
            return self._latest(selection, None, before=True)
        params: Params = {}
        columns, names = self._groups(selection, params, None)
        where = self._where(selection, params)
        sql = (
            f"SELECT {columns}, toUnixTimestamp64Micro(ts), id, {_TEXT} "
            f"FROM {self._table} WHERE {where} AND {_VALID} "
            f"ORDER BY {', '.join(names)}, ts, id"
        )
        return list(_timed(self._q(sql, params), selection, None, len(names)))

    def _latest(
        self, selection: Selection, buckets: tuple[int, int] | None, *, before: bool
    ) -> list[Partial]:
        params: Params = {}
        columns, names = self._groups(selection, params, buckets)
        where = self._where(selection, params, before=before)
        order = "(ts, id)"
        sql = (
            f"SELECT {columns}, toUnixTimestamp64Micro(argMax(ts, {order})), "
            f"argMax(id, {order}), argMax({_TEXT}, {order}) FROM {self._table} "
            f"WHERE {where} AND {_VALID} GROUP BY {', '.join(names)}"
        )
        return list(_timed(self._q(sql, params), selection, buckets, len(names)))

    # -- shapes ------------------------------------------------------------------------

    def _groups(
        self, sel: Selection, params: Params, buckets: tuple[int, int] | None
    ) -> tuple[str, list[str]]:
        """The SELECT list of the group columns (``g0`` customer, ``g1..`` dimensions,
        then the bucket) and their names."""
        columns = ["customer AS g0"]
        for index, path in enumerate(sel.group_by):
            params[f"d{index}"] = ".".join(path)
            columns.append(
                f"if(mapContains(properties, {{d{index}:String}}), "
                f"properties[{{d{index}:String}}], NULL) AS g{index + 1}"
            )
        if buckets is not None:
            params["o"], params["w"] = buckets
            columns.append(
                f"intDiv(toUnixTimestamp64Micro(ts) - {{o:Int64}}, {{w:Int64}}) AS g{len(columns)}"
            )
        return ", ".join(columns), [f"g{i}" for i in range(len(columns))]

    def _where(self, sel: Selection, params: Params, *, before: bool = False) -> str:
        params.update(t=sel.tenant_id, s=sel.start, e=sel.end, re=VALUE_PATTERN)
        clauses = ["tenant_id = {t:String}"]
        if sel.sources:  # a weighted meter: every source's type; each filters its own
            params["tys"] = list(dict.fromkeys(source.event_type for source in sel.sources))
            clauses.append("has({tys:Array(String)}, type)")
        else:
            params["ty"] = sel.event_type
            clauses.append("type = {ty:String}")
        if before:
            clauses.append("ts < fromUnixTimestamp64Micro({s:Int64}, 'UTC')")
        else:
            clauses.append("ts >= fromUnixTimestamp64Micro({s:Int64}, 'UTC')")
            clauses.append("ts < fromUnixTimestamp64Micro({e:Int64}, 'UTC')")
        if sel.customers is not None:
            params["cs"] = list(sel.customers)
            clauses.append("has({cs:Array(String)}, customer)")
        for index, (path, allowed) in enumerate(sel.filter):
            params[f"f{index}"] = ".".join(path)
            params[f"fv{index}"] = list(allowed)
            clauses.append(
                f"mapContains(properties, {{f{index}:String}}) AND "
                f"has({{fv{index}:Array(String)}}, properties[{{f{index}:String}}])"
            )
        if sel.value is not None:
            params["vp"] = ".".join(sel.value)
        return " AND ".join(clauses)

    def _q(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        if any(_has_nul(value) for value in params.values()):
            return []  # a NUL matches no stored text (as on the SQL stores)
        return self._run.query(sql, params)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)


def _at(expression: str, name: str) -> str:
    """A value expression on the path parameter ``name`` instead of ``vp``."""
    return expression.replace("{vp:String}", f"{{{name}:String}}")


def _source_match(index: int, source: SourceSelection, params: Params) -> str:
    """The condition an event meets to count for source ``index``."""
    params[f"sty{index}"] = source.event_type
    clauses = [f"type = {{sty{index}:String}}"]
    for number, (path, allowed) in enumerate(source.filter):
        name = f"s{index}f{number}"
        params[name] = ".".join(path)
        params[f"{name}v"] = list(allowed)
        clauses.append(
            f"mapContains(properties, {{{name}:String}}) AND "
            f"has({{{name}v:Array(String)}}, properties[{{{name}:String}}])"
        )
    return "(" + " AND ".join(clauses) + ")"


def _series(row: Sequence[Any], selection: Selection) -> Series:
    width = len(selection.group_by)
    return (str(row[0]), tuple(None if v is None else str(v) for v in row[1 : 1 + width]))


def _bucket(row: Sequence[Any], selection: Selection, buckets: tuple[int, int] | None) -> int:
    return 0 if buckets is None else int(row[1 + len(selection.group_by)])


def _partial(
    row: Sequence[Any],
    selection: Selection,
    buckets: tuple[int, int] | None,
    value: Decimal,
    *,
    key: str | None = None,
) -> Partial:
    return Partial(_series(row, selection), _bucket(row, selection, buckets), value, key=key)


def _timed(
    rows: Iterable[Sequence[Any]],
    selection: Selection,
    buckets: tuple[int, int] | None,
    width: int,
) -> Iterable[Partial]:
    for r in rows:
        value = try_value(str(r[width + 2]))
        if value is not None:
            yield Partial(
                _series(r, selection),
                _bucket(r, selection, buckets),
                value,
                instant=int(r[width]),
                id=str(r[width + 1]),
            )


def _combine(aggregation: Aggregation, narrow: Any, wide: Sequence[str]) -> Decimal | None:
    """The SQL aggregate of the values that fit ``Decimal256`` with the wide ones' texts."""
    parts = [] if narrow is None else [Decimal(str(narrow))]
    parts += [v for v in (try_value(text) for text in wide) if v is not None]
    if not parts:
        return Decimal(0) if aggregation is Aggregation.SUM else None
    if aggregation is Aggregation.MAX:
        return max(parts)
    if aggregation is Aggregation.MIN:
        return min(parts)
    total = Decimal(0)
    for part in parts:
        total = EXACT.add(total, part)
    return total
