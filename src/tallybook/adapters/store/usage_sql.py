"""Meter aggregation pushed down to SQL, exact on both stores.

One query per meter and time range, grouped per customer, per ``group_by`` value and,
when the caller splits the range into windows, per time *bucket* (``(ts - origin) /
width``; the service folds buckets into windows). Queries are scoped by tenant and event
type and read the ``ix_events_usage`` index ``(tenant_id, customer, type, ts)``.

**Exactness: never a float.** PostgreSQL casts the JSON text to ``numeric`` (exact);
decimal strings must match ``meters.DECIMAL_TEXT`` first. SQLite's JSON functions return
REAL for non-integers, so SQLite aggregates in two parts: JSON integers that fit 64 bits
in SQL (``SUM``/``MAX``/``MIN``), and every other value from its raw JSON text (the ``->``
operator: ``0.1``, ``"0.05"``) through small Python aggregates registered on the
connection (``tb_decsum``/``tb_decmax``/``tb_decmin``: exact ``Decimal``). If the 64-bit
SQL sum overflows, the query re-runs with every value through ``tb_decsum``.

Values that are not JSON numbers or decimal strings are skipped (ingest rejects them
up front); ``count`` counts events whatever their value.

**Weighted meters** (``Selection.sources``) stay one query: ``type IN (...)`` in the
WHERE clause and, per source, its own aggregate columns restricted by
``FILTER (WHERE type = ... AND <its filter>)`` (a sum of its values, exact as above, or a
count of its events). Each source's part is multiplied by its multiplier in Python
(``meters.weighted_sum``), so an event matching two sources counts for both.

This module runs the queries and folds their rows into partials; the SQL text of each
dialect, and SQLite's exact aggregates, are in ``usage_dialects.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from tallybook.adapters.store.failures import store_error, translated
from tallybook.adapters.store.usage_dialects import Params, PostgresSql, Sql, SqliteSql
from tallybook.domain.catalog.model import Aggregation
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import EXACT, json_text_value, weighted_sum
from tallybook.domain.metering.usage import Partial, Selection, Series

NUMERIC = (Aggregation.COUNT, Aggregation.SUM, Aggregation.MAX, Aggregation.MIN)


class UsageSql:
    """Runs usage queries on raw driver connections: no ORM overhead, and on SQLite no
    write lock (plain autocommit reads see the latest committed WAL snapshot)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._sql: Sql = SqliteSql() if engine.dialect.name == "sqlite" else PostgresSql()

    def partials(
        self,
        selection: Selection,
        aggregation: Aggregation,
        buckets: tuple[int, int] | None = None,
    ) -> list[Partial]:
        """Aggregate per series (and per ``(origin, width)`` bucket when given)."""
        if selection.sources:
            return self._weighted(selection, aggregation, buckets)
        if aggregation in NUMERIC:
            return self._numeric(selection, aggregation, buckets)
        if aggregation is Aggregation.UNIQUE_COUNT:
            sql, params = self._sql.unique(selection, buckets)
            mode = "counted" if buckets is None else "keyed"
        else:
            sql, params = self._sql.latest(selection, buckets, before=False)
            mode = "timed"
        return list(_partials(self._fetch(sql, params), selection, buckets, mode))

    def readings(self, selection: Selection, *, before: bool = False) -> list[Partial]:
        """Every valid value in the range, by series then time; ``before``: the last
        valid value of each series before ``selection.start`` (a gauge's carry-in)."""
        sql, params = (
            self._sql.latest(selection, None, before=True)
            if before
            else self._sql.readings(selection)
        )
        return list(_partials(self._fetch(sql, params), selection, None, "timed"))

    def _numeric(
        self, selection: Selection, aggregation: Aggregation, buckets: tuple[int, int] | None
    ) -> list[Partial]:
        try:
            rows = self._fetch(*self._sql.numeric(selection, aggregation, buckets, exact_ints=True))
        except _IntegerOverflow:  # SQLite: the 64-bit integer sum overflowed
            rows = self._fetch(
                *self._sql.numeric(selection, aggregation, buckets, exact_ints=False)
            )
        width, partials = len(selection.group_by), []
        first_value = 1 + width + (0 if buckets is None else 1)
        for row in rows:
            series, bucket = _series(row, width), _bucket(row, width, buckets)
            parts = [v for v in map(sql_decimal, row[first_value:]) if v is not None]
            if parts:
                partials.append(Partial(series, bucket, _combine(aggregation, parts)))
            elif aggregation is Aggregation.SUM:
                partials.append(Partial(series, bucket, Decimal(0)))
        return partials

    def _weighted(
        self, selection: Selection, aggregation: Aggregation, buckets: tuple[int, int] | None
    ) -> list[Partial]:
        if aggregation is not Aggregation.SUM:  # the catalog refuses it; never guess
            raise ValidationError(
                "a meter with sources must aggregate with sum", code="invalid_meter"
            )
        try:
            sql, params, widths = self._sql.weighted(selection, buckets, exact_ints=True)
            rows = self._fetch(sql, params)
        except _IntegerOverflow:  # SQLite: a 64-bit integer sum overflowed
            sql, params, widths = self._sql.weighted(selection, buckets, exact_ints=False)
            rows = self._fetch(sql, params)
        width, partials = len(selection.group_by), []
        first = 1 + width + (0 if buckets is None else 1)
        for row in rows:
            parts, at = [], first
            for source, columns in zip(selection.sources, widths, strict=True):
                cells = [v for v in map(sql_decimal, row[at : at + columns]) if v is not None]
                parts.append((source.multiplier, _combine(Aggregation.SUM, cells or [Decimal(0)])))
                at += columns
            partials.append(
                Partial(_series(row, width), _bucket(row, width, buckets), weighted_sum(parts))
            )
        return partials

    def _fetch(self, sql: str, params: Params) -> list[Any]:
        if any(_has_nul(value) for value in params.values()):
            return []  # a NUL matches no stored text (and PostgreSQL refuses it)
        dbapi = self._engine.dialect.loaded_dbapi
        with translated():  # a failed pool connect is a 503 too
            raw = self._engine.raw_connection()
        try:
            self._sql.prepare(raw)
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except dbapi.Error as exc:
            if "integer overflow" in str(exc):
                raise _IntegerOverflow from exc
            domain = store_error(exc)
            if domain is not None:
                raise domain from exc
            raise
        finally:
            self._sql.release(raw)
            raw.close()  # back to the pool, which rolls back any open transaction


class _IntegerOverflow(Exception):
    pass


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)


def _partials(
    rows: list[Any], selection: Selection, buckets: tuple[int, int] | None, mode: str
) -> Iterator[Partial]:
    width = len(selection.group_by)
    for row in rows:
        series, bucket = _series(row, width), _bucket(row, width, buckets)
        if mode == "keyed":
            yield Partial(series, bucket, Decimal(1), key=row[-1])
        elif mode == "counted":
            yield Partial(series, bucket, Decimal(row[-1]))
        else:
            value = sql_decimal(row[-1])
            if value is not None:
                yield Partial(series, bucket, value, instant=int(row[-3]), id=str(row[-2]))


def _series(row: Any, width: int) -> Series:
    return (row[0], tuple(row[1 : 1 + width]))


def _bucket(row: Any, width: int, buckets: tuple[int, int] | None) -> int:
    return 0 if buckets is None else int(row[1 + width])


def _combine(aggregation: Aggregation, parts: list[Decimal]) -> Decimal:
    if aggregation is Aggregation.MAX:
        return max(parts)
    if aggregation is Aggregation.MIN:
        return min(parts)
    total = Decimal(0)
    for part in parts:
        total = EXACT.add(total, part)
    return total


def sql_decimal(value: Any) -> Decimal | None:
    """A value from SQL: int, Decimal (PostgreSQL numeric), or raw JSON text (SQLite)."""
    if value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return json_text_value(str(value))
