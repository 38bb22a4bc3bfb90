"""The SQL text of usage queries per dialect (``usage_sql.UsageSql`` runs them).

``Sql`` holds the shared query shapes (where, groups, numeric, weighted, unique, latest,
readings); ``SqliteSql`` and ``PostgresSql`` supply the JSON expressions, placeholders and
exact aggregates. PostgreSQL casts JSON text to ``numeric``; SQLite sums 64-bit JSON
integers in SQL and every other value from its raw JSON text through the exact ``Decimal``
aggregates registered on the connection (``tb_decsum``/``tb_decmax``/``tb_decmin``; the
exactness rules are in ``usage_sql.py``'s docstring).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import PoolProxiedConnection

from tallybook.domain.catalog.model import Aggregation
from tallybook.domain.metering.meters import DECIMAL_TEXT, EXACT, json_text_value, unique_key
from tallybook.domain.metering.usage import Selection, SourceSelection

Params = dict[str, Any]


class Sql:
    """Shared query shapes; subclasses supply the JSON expressions and placeholders."""

    def ph(self, name: str) -> str:
        raise NotImplementedError

    def prepare(self, conn: PoolProxiedConnection) -> None:
        """Before a query: SQLite registers its exact aggregates (once per connection);
        PostgreSQL reads in autocommit (one round trip, no BEGIN/ROLLBACK)."""

    def release(self, conn: PoolProxiedConnection) -> None:
        """After a query, before the connection goes back to the pool."""

    def path(self, parts: Sequence[str]) -> Any:
        raise NotImplementedError

    def dimension(self, name: str) -> str:
        raise NotImplementedError

    def in_list(self, expression: str, name: str, values: Sequence[str], params: Params) -> str:
        raise NotImplementedError

    def aggregates(self, aggregation: Aggregation, exact_ints: bool) -> str:
        raise NotImplementedError

    def unique_key(self) -> str:
        raise NotImplementedError

    def valid(self) -> str:
        raise NotImplementedError

    def value_out(self) -> str:
        raise NotImplementedError

    # -- shapes --------------------------------------------------------------------------

    def where(self, sel: Selection, params: Params, *, before: bool = False) -> str:
        params.update(t=sel.tenant_id, s=sel.start, e=sel.end)
        ph = self.ph
        clauses = [f"tenant_id = {ph('t')}"]
        if sel.sources:  # a weighted meter: every source's type; each filters its own
            types = list(dict.fromkeys(source.event_type for source in sel.sources))
            clauses.append(self.in_list("type", "tys", types, params))
        else:
            params["ty"] = sel.event_type
            clauses.append(f"type = {ph('ty')}")
        if before:
            clauses.append(f"ts < {ph('s')}")
        else:
            clauses += [f"ts >= {ph('s')}", f"ts < {ph('e')}"]
        if sel.customers is not None and len(sel.customers) == 1:
            params["c"] = sel.customers[0]
            clauses.append(f"customer = {ph('c')}")
        elif sel.customers is not None:
            clauses.append(self.in_list("customer", "cs", sel.customers, params))
        for index, (path, allowed) in enumerate(sel.filter):
            params[f"f{index}"] = self.path(path)
            clauses.append(self.in_list(self.dimension(f"f{index}"), f"fv{index}", allowed, params))
        if sel.value is not None:
            params["vp"] = self.path(sel.value)
        return " AND ".join(clauses)

    def groups(self, sel: Selection, params: Params, buckets: tuple[int, int] | None) -> list[str]:
        columns = ["customer"]
        for index, path in enumerate(sel.group_by):
            params[f"d{index}"] = self.path(path)
            columns.append(self.dimension(f"d{index}"))
        if buckets is not None:
            params["o"], params["w"] = buckets
            columns.append(f"(ts - {self.ph('o')}) / {self.ph('w')}")
        return columns

    def numeric(
        self,
        sel: Selection,
        aggregation: Aggregation,
        buckets: tuple[int, int] | None,
        *,
        exact_ints: bool,
    ) -> tuple[str, Params]:
        params: Params = {}
        columns = self.groups(sel, params, buckets)
        where = self.where(sel, params)
        sql = (
            f"SELECT {', '.join(columns)}, {self.aggregates(aggregation, exact_ints)} "
            f"FROM events WHERE {where} GROUP BY {_positions(len(columns))}"
        )
        return sql, params

    def weighted(
        self, sel: Selection, buckets: tuple[int, int] | None, *, exact_ints: bool
    ) -> tuple[str, Params, list[int]]:
        """A weighted meter's query: per series, each source's aggregate columns; also
        how many columns each source has."""
        params: Params = {}
        columns = self.groups(sel, params, buckets)
        where = self.where(sel, params)
        aggregates, widths = [], []
        for index, source in enumerate(sel.sources):
            match = self.source_match(index, source, params)
            if source.value is None:
                aggregates.append(f"COUNT(*) FILTER (WHERE {match})")
                widths.append(1)
                continue
            params[f"vp{index}"] = self.path(source.value)
            parts = self.source_sums(f"vp{index}", match, exact_ints)
            aggregates += parts
            widths.append(len(parts))
        sql = (
            f"SELECT {', '.join(columns)}, {', '.join(aggregates)} "
            f"FROM events WHERE {where} GROUP BY {_positions(len(columns))}"
        )
        return sql, params, widths

    def source_match(self, index: int, source: SourceSelection, params: Params) -> str:
        """The condition an event meets to count for source ``index``."""
        params[f"sty{index}"] = source.event_type
        clauses = [f"type = {self.ph(f'sty{index}')}"]
        for number, (path, allowed) in enumerate(source.filter):
            name = f"s{index}f{number}"
            params[name] = self.path(path)
            clauses.append(self.in_list(self.dimension(name), f"{name}v", allowed, params))
        return " AND ".join(clauses)

    def source_sums(self, path: str, match: str, exact_ints: bool) -> list[str]:
        """The columns summing a source's values at the ``path`` parameter, exactly."""
        raise NotImplementedError

    def unique(self, sel: Selection, buckets: tuple[int, int] | None) -> tuple[str, Params]:
        params: Params = {}
        columns = self.groups(sel, params, buckets)
        where = self.where(sel, params)
        key = self.unique_key()
        if buckets is None:
            sql = (
                f"SELECT {', '.join(columns)}, COUNT(DISTINCT {key}) FROM events "
                f"WHERE {where} GROUP BY {_positions(len(columns))}"
            )
        else:
            sql = (
                f"SELECT DISTINCT {', '.join(columns)}, {key} AS k FROM events "
                f"WHERE {where} AND {key} IS NOT NULL"
            )
        return sql, params

    def latest(
        self, sel: Selection, buckets: tuple[int, int] | None, *, before: bool
    ) -> tuple[str, Params]:
        """The last valid value per series (and bucket); ``before``: before ``start``."""
        params: Params = {}
        columns = self.groups(sel, params, buckets)
        where = self.where(sel, params, before=before)
        names = [f"g{i}" for i in range(len(columns))]
        inner = ", ".join(f"{c} AS {n}" for c, n in zip(columns, names, strict=True))
        sql = (
            f"SELECT {', '.join(names)}, ts, id, v FROM ("
            f"SELECT {inner}, ts, id, {self.value_out()} AS v, ROW_NUMBER() OVER ("
            f"PARTITION BY {', '.join(columns)} ORDER BY ts DESC, id DESC) AS rn "
            f"FROM events WHERE {where} AND {self.valid()}) q WHERE rn = 1"
        )
        return sql, params

    def readings(self, sel: Selection) -> tuple[str, Params]:
        params: Params = {}
        columns = self.groups(sel, params, None)
        where = self.where(sel, params)
        sql = (
            f"SELECT {', '.join(columns)}, ts, id, {self.value_out()} FROM events "
            f"WHERE {where} AND {self.valid()} ORDER BY {_positions(len(columns))}, ts, id"
        )
        return sql, params


def _positions(count: int) -> str:
    return ", ".join(str(i) for i in range(1, count + 1))


class SqliteSql(Sql):
    JT = "json_type(properties, :vp)"
    X = "(properties ->> :vp)"
    RAW = "(properties -> :vp)"
    INT = f"(typeof({X}) = 'integer' AND {JT} = 'integer')"
    DEC = f"({JT} IN ('integer', 'real', 'text') AND typeof({X}) <> 'integer')"

    def ph(self, name: str) -> str:
        return f":{name}"

    def prepare(self, conn: PoolProxiedConnection) -> None:
        info = conn.info
        if not info.get("tallybook_usage_functions"):
            raw = conn.dbapi_connection
            assert raw is not None
            raw.create_function("tb_decimal", 1, _is_decimal, deterministic=True)
            raw.create_function("tb_numkey", 1, number_key, deterministic=True)
            raw.create_aggregate("tb_decsum", 1, _DecSum)
            raw.create_aggregate("tb_decmax", 1, _DecMax)
            raw.create_aggregate("tb_decmin", 1, _DecMin)
            info["tallybook_usage_functions"] = True

    def path(self, parts: Sequence[str]) -> str:
        return "$" + "".join(f'."{part}"' for part in parts)

    def dimension(self, name: str) -> str:
        jt = f"json_type(properties, :{name})"
        return (
            f"CASE {jt} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(properties ->> :{name} AS TEXT) END"
        )

    def in_list(self, expression: str, name: str, values: Sequence[str], params: Params) -> str:
        params[name] = json.dumps(list(values))
        return f"{expression} IN (SELECT value FROM json_each(:{name}))"

    def aggregates(self, aggregation: Aggregation, exact_ints: bool) -> str:
        if aggregation is Aggregation.COUNT:
            return "COUNT(*)"
        sql_fn, py_fn = {
            Aggregation.SUM: ("SUM", "tb_decsum"),
            Aggregation.MAX: ("MAX", "tb_decmax"),
            Aggregation.MIN: ("MIN", "tb_decmin"),
        }[aggregation]
        if not exact_ints:
            return f"{py_fn}({self.RAW}) FILTER (WHERE {self.JT} IN ('integer', 'real', 'text'))"
        return (
            f"{sql_fn}({self.X}) FILTER (WHERE {self.INT}), "
            f"{py_fn}({self.RAW}) FILTER (WHERE {self.DEC})"
        )

    def source_sums(self, path: str, match: str, exact_ints: bool) -> list[str]:
        def at(expression: str) -> str:
            return expression.replace(":vp", f":{path}")

        if not exact_ints:
            return [
                f"tb_decsum({at(self.RAW)}) FILTER (WHERE {match} "
                f"AND {at(self.JT)} IN ('integer', 'real', 'text'))"
            ]
        return [
            f"SUM({at(self.X)}) FILTER (WHERE {match} AND {at(self.INT)})",
            f"tb_decsum({at(self.RAW)}) FILTER (WHERE {match} AND {at(self.DEC)})",
        ]

    def valid(self) -> str:
        return f"({self.INT} OR ({self.DEC} AND tb_decimal({self.RAW}) IS NOT NULL))"

    def value_out(self) -> str:
        return self.RAW

    def unique_key(self) -> str:
        return (
            f"CASE WHEN {self.INT} THEN 'n:' || {self.X} "
            f"WHEN {self.JT} IN ('integer', 'real') THEN 'n:' || tb_numkey({self.RAW}) "
            f"WHEN {self.JT} = 'text' THEN 's:' || {self.X} "
            f"WHEN {self.JT} IN ('true', 'false', 'object', 'array') THEN 'j:' || {self.RAW} END"
        )


class PostgresSql(Sql):
    J = "(properties #> CAST(%(vp)s AS text[]))"
    T = "(properties #>> CAST(%(vp)s AS text[]))"
    V = (
        f"CASE jsonb_typeof({J}) WHEN 'number' THEN CAST({T} AS numeric) "
        f"WHEN 'string' THEN CASE WHEN {T} ~ '{DECIMAL_TEXT}' THEN CAST({T} AS numeric) END END"
    )

    def ph(self, name: str) -> str:
        return f"%({name})s"

    def prepare(self, conn: PoolProxiedConnection) -> None:
        conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]

    def release(self, conn: PoolProxiedConnection) -> None:
        if conn.dbapi_connection is not None and not conn.dbapi_connection.closed:
            conn.dbapi_connection.autocommit = False

    def path(self, parts: Sequence[str]) -> list[str]:
        return list(parts)

    def dimension(self, name: str) -> str:
        return f"(properties #>> CAST(%({name})s AS text[]))"

    def in_list(self, expression: str, name: str, values: Sequence[str], params: Params) -> str:
        params[name] = list(values)
        return f"{expression} = ANY(CAST(%({name})s AS text[]))"

    def aggregates(self, aggregation: Aggregation, exact_ints: bool) -> str:
        if aggregation is Aggregation.COUNT:
            return "COUNT(*)"
        return f"{aggregation.value.upper()}({self.V})"

    def source_sums(self, path: str, match: str, exact_ints: bool) -> list[str]:
        return [f"SUM({self.V.replace('%(vp)s', f'%({path})s')}) FILTER (WHERE {match})"]

    def valid(self) -> str:
        return f"({self.V}) IS NOT NULL"

    def value_out(self) -> str:
        return self.V

    def unique_key(self) -> str:
        return (
            f"CASE jsonb_typeof({self.J}) "
            f"WHEN 'number' THEN 'n:' || CAST(trim_scale(CAST({self.T} AS numeric)) AS text) "
            f"WHEN 'string' THEN 's:' || {self.T} WHEN 'null' THEN NULL "
            f"ELSE 'j:' || CAST({self.J} AS text) END"
        )


def number_key(raw: str) -> str | None:
    """``unique_count``'s key of a raw JSON number: its normalized text (``1.50`` -> ``1.5``)."""
    key = unique_key(json_text_value(raw))
    return None if key is None or not key.startswith("n:") else key[2:]


# -- SQLite's exact aggregates over raw JSON text ---------------------------------------


def _is_decimal(raw: str | None) -> int | None:
    return None if raw is None or json_text_value(raw) is None else 1


class _DecimalAggregate:
    def __init__(self) -> None:
        self.value: Decimal | None = None

    def step(self, raw: str | None) -> None:
        value = None if raw is None else json_text_value(raw)
        if value is not None:
            self.value = value if self.value is None else self.combine(self.value, value)

    def combine(self, left: Decimal, right: Decimal) -> Decimal:
        raise NotImplementedError

    def finalize(self) -> str | None:
        return None if self.value is None else format(self.value, "f")


class _DecSum(_DecimalAggregate):
    def combine(self, left: Decimal, right: Decimal) -> Decimal:
        return EXACT.add(left, right)


class _DecMax(_DecimalAggregate):
    def combine(self, left: Decimal, right: Decimal) -> Decimal:
        return max(left, right)


class _DecMin(_DecimalAggregate):
    def combine(self, left: Decimal, right: Decimal) -> Decimal:
        return min(left, right)
