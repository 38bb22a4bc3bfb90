"""Incremental rollups in the store: written in the ingest transaction, read by live usage.

``RollupWriter`` runs inside an event write transaction (``events.BatchWriter.insert``,
so group-committed batches and dead-letter replays alike): it reads the tenant's rollup
definitions, adds the events that were really inserted (never duplicates) to their hour
cells with one upsert per cell (exact: PostgreSQL adds NUMERICs; SQLite adds decimal
text through ``tb_decadd``), and marks each customer with new events in
``alert_pending`` for the alert evaluator (a plain insert of one row per customer and
transaction). On PostgreSQL a transaction writes its cells into one of ``SHARDS`` rows
per cell, so concurrent batches of the same customers rarely wait for each other. A
rolled-back batch rolls all of it back.

``RollupStore`` implements ``ports.RollupStore``: ``cells`` reads a definition's hour
cells (or None while the definition is not stored yet) and ``prepare`` stores a
definition and backfills it from the raw events.

Consistency between a backfill and concurrent ingest: on PostgreSQL every ingest
transaction holds a shared transaction-level advisory lock per tenant while it reads the
definitions and writes cells; a backfill holds the same lock exclusively while it stores
the definition, deletes its cells and recomputes them from the events -- so each event is
counted exactly once, by the ingest that wrote it or by the backfill that saw it. On
SQLite every write transaction is exclusive already (``BEGIN IMMEDIATE``), and the
backfill also takes the event store's writer lock (``EventStore.quiet``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Text,
    cast,
    delete,
    func,
    insert,
    select,
)

from tallybook.adapters.store.failures import translated, with_retries
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.schema_rollups import rollup_defs, usage_rollups
from tallybook.domain.instants import to_micros
from tallybook.domain.metering.events import NewEvent
from tallybook.domain.metering.meters import EXACT
from tallybook.domain.metering.rollups import (
    Accumulator,
    Cell,
    CellKey,
    NeedsExactParse,
    RollupDef,
)

Dims = tuple[str | None, ...]
_BACKFILL_ROWS = 5_000
_parsed: dict[str, RollupDef] = {}  # fingerprint -> definition (a fingerprint never changes)


def exact_json(text: str) -> Any:
    """Parse JSON keeping fractions exact (``Decimal``) and integers of any size."""
    return json.loads(text, parse_float=Decimal)


def event_cells(
    cells: Accumulator,
    definitions: Sequence[RollupDef],
    customer: str,
    ts: int,
    properties: str,
) -> None:
    """Add one stored event (properties as JSON text) to ``cells`` of every definition
    of its type (the caller filters by type)."""
    try:
        parsed = orjson.loads(properties)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits
        parsed = exact_json(properties)
    for definition in definitions:
        try:
            cells.add(definition, customer, ts, parsed)
        except NeedsExactParse:
            parsed = exact_json(properties)
            cells.add(definition, customer, ts, parsed)


def dims_key(dims: Dims) -> tuple[str, str]:
    """(key, JSON text) of a cell's dimension texts: the text itself when short, else
    ``#`` + its digest (so keys stay short whatever the values)."""
    if not dims:
        return "[]", "[]"
    text = orjson.dumps(dims).decode()
    if len(text) <= 30:
        return text, text
    return "#" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest(), text


def _lock_key(tenant_id: str) -> str:
    return f"tb_rollups:{tenant_id}"


# -- writing in the ingest transaction --------------------------------------------------


class RollupWriter:
    """Rollups and alert marks for the events of one write transaction."""

    def __init__(self, *, rollups: bool = True, alerts: bool = True):
        self.rollups = rollups
        self.alerts = alerts

    def write(
        self,
        conn: Connection,
        tenant_id: str,
        received_micros: int,
        new_events: Sequence[NewEvent],
    ) -> None:
        """Roll up ``new_events`` (inserted by this transaction) and mark their customers."""
        if not new_events:
            return
        postgres = conn.dialect.name == "postgresql"
        if self.rollups:
            if postgres:
                conn.execute(
                    select(func.pg_advisory_xact_lock_shared(func.hashtext(_lock_key(tenant_id))))
                )
            definitions = _definitions(conn, tenant_id)
            if definitions:
                cells = _cells_of(definitions, new_events)
                if cells:
                    _upsert_cells(conn, tenant_id, cells)
        if self.alerts:
            customers = sorted({event.customer for event in new_events})
            _mark_pending(conn, tenant_id, customers, received_micros)


def _definitions(conn: Connection, tenant_id: str) -> dict[str, list[RollupDef]]:
    """The tenant's rollup definitions by event type."""
    rows = conn.execute(
        select(rollup_defs.c.fingerprint, rollup_defs.c.definition).where(
            rollup_defs.c.tenant_id == tenant_id
        )
    ).all()
    by_type: dict[str, list[RollupDef]] = {}
    for fingerprint, document in rows:
        definition = _parsed.get(fingerprint)
        if definition is None:
            definition = RollupDef.from_dict(fingerprint, document)
            _parsed[fingerprint] = definition
        by_type.setdefault(definition.event_type, []).append(definition)
    return by_type


def _cells_of(
    definitions: dict[str, list[RollupDef]], new_events: Iterable[NewEvent]
) -> dict[CellKey, Cell]:
    cells = Accumulator()
    for event in new_events:
        wanted = definitions.get(event.type)
        if wanted:
            event_cells(cells, wanted, event.customer, event.ts, event.properties)
    return cells.cells()


_ROLLUP_COLUMNS = (
    "tenant_id, fingerprint, customer, hour, dims_key, dims, count, sum, min, max, raw, shard"
)
_KEY = "tenant_id, fingerprint, customer, hour, dims_key, shard"
SHARDS = 8  # PostgreSQL: rows per cell, one chosen per transaction
# Raw driver statements (the ingest hot path: no SQL expression building per batch).
_PG_UPSERT = (
    f"INSERT INTO usage_rollups ({_ROLLUP_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    f"ON CONFLICT ({_KEY}) DO UPDATE SET count = usage_rollups.count + excluded.count, "
    "sum = usage_rollups.sum + excluded.sum, "
    "min = least(usage_rollups.min, excluded.min), "
    "max = greatest(usage_rollups.max, excluded.max), raw = usage_rollups.raw + excluded.raw"
)  # NUMERIC arithmetic: exact
_SQLITE_UPSERT = (
    f"INSERT INTO usage_rollups ({_ROLLUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT ({_KEY}) DO UPDATE SET count = usage_rollups.count + excluded.count, "
    "sum = tb_decadd(usage_rollups.sum, excluded.sum), "
    "min = tb_decmin2(usage_rollups.min, excluded.min), "
    "max = tb_decmax2(usage_rollups.max, excluded.max), raw = usage_rollups.raw + excluded.raw"
)  # decimal text through exact Python Decimal functions
_PG_PENDING = (
    "INSERT INTO alert_pending (tenant_id, customer_id, mark, touched_at, claimed_until) "
    "VALUES (%s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING"
)  # the mark is unique per transaction: a plain insert, no lock on other marks
_SQLITE_PENDING = _PG_PENDING.replace("%s", "?")


def _cell_rows(
    tenant_id: str, cells: dict[CellKey, Cell], postgres: bool, shard: int = 0
) -> list[tuple[Any, ...]]:
    """Rows in ``_ROLLUP_COLUMNS`` order, sorted by key: one lock order for every writer,
    so concurrent batches never deadlock on cells. Decimals as the column stores them."""
    rows = []
    for (fingerprint, customer, dims, hour), cell in cells.items():
        digest, text = dims_key(dims)
        rows.append(
            (
                tenant_id,
                fingerprint,
                customer,
                hour,
                digest,
                text,
                cell.count,
                _stored(cell.sum, postgres),
                _stored(cell.min, postgres),
                _stored(cell.max, postgres),
                cell.raw,
                shard,
            )
        )
    rows.sort(key=lambda r: (r[1], r[2], r[3], r[4]))
    return rows


def _stored(value: Decimal | None, postgres: bool) -> Any:
    if value is None or postgres:
        return value
    return format(value, "f")


def _upsert_cells(conn: Connection, tenant_id: str, cells: dict[CellKey, Cell]) -> None:
    postgres = conn.dialect.name == "postgresql"
    shard = secrets.randbelow(SHARDS) if postgres else 0
    rows = _cell_rows(tenant_id, cells, postgres, shard)
    if not postgres:
        _register_sqlite_functions(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_PG_UPSERT if postgres else _SQLITE_UPSERT, rows)
    finally:
        cursor.close()


def _register_sqlite_functions(conn: Connection) -> None:
    proxied = conn.connection
    if proxied.info.get("tallybook_rollup_functions"):
        return
    raw = proxied.dbapi_connection
    assert raw is not None
    raw.create_function("tb_decadd", 2, _decadd, deterministic=True)  # type: ignore[attr-defined]
    raw.create_function("tb_decmin2", 2, _decmin, deterministic=True)  # type: ignore[attr-defined]
    raw.create_function("tb_decmax2", 2, _decmax, deterministic=True)  # type: ignore[attr-defined]
    proxied.info["tallybook_rollup_functions"] = True


def _decadd(left: str | None, right: str | None) -> str | None:
    if left is None or right is None:
        return left if right is None else right
    return format(EXACT.add(Decimal(left), Decimal(right)), "f")


def _decpick(choose: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Any, Any], str | None]:
    def pick(left: str | None, right: str | None) -> str | None:
        if left is None or right is None:
            return left if right is None else right
        return format(choose(Decimal(left), Decimal(right)), "f")

    return pick


_decmin = _decpick(min)
_decmax = _decpick(max)


def _mark_pending(conn: Connection, tenant_id: str, customers: list[str], now: int) -> None:
    postgres = conn.dialect.name == "postgresql"
    mark = secrets.token_hex(12)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            _PG_PENDING if postgres else _SQLITE_PENDING,
            [(tenant_id, c, mark, now) for c in customers],
        )
    finally:
        cursor.close()


# -- reading and preparing ----------------------------------------------------------------

_KNOWN = "SELECT 1 FROM rollup_defs WHERE tenant_id = ? AND fingerprint = ?"
_CELLS = (
    "SELECT customer, dims, count, sum, min, max, raw FROM usage_rollups "
    "WHERE tenant_id = ? AND fingerprint = ? AND hour >= ? AND hour < ?"
)
# PostgreSQL folds the hours (and shards) of each series in SQL, exactly (NUMERIC sums):
# one row per customer and dimension values instead of one per hour and shard.
_PG_CELLS = (
    "SELECT customer, dims, SUM(count), SUM(sum), MIN(min), MAX(max), SUM(raw) "
    "FROM usage_rollups WHERE tenant_id = %s AND fingerprint = %s AND hour >= %s "
    "AND hour < %s{customers} GROUP BY customer, dims_key, dims"
)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


class RollupStore:
    """``ports.RollupStore`` on SQLAlchemy; ``writer_lock`` is the event store's writer
    lock (``EventStore.quiet``), held around a backfill."""

    def __init__(
        self,
        engine: Engine,
        writer_lock: Callable[[], AbstractContextManager[Any]] | None = None,
    ):
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._writer_lock = writer_lock or nullcontext

    def cells(
        self,
        tenant_id: str,
        fingerprint: str,
        customers: Sequence[str] | None,
        start_hour: int,
        end_hour: int,
    ) -> list[tuple[str, Dims, Cell]] | None:
        """Cells of hours in ``[start_hour, end_hour)`` (micros), per customer (all when
        ``customers`` is None); None when the definition is not stored (not backfilled).
        On PostgreSQL each series' hours come folded into one cell (summed in SQL); on
        SQLite (sums stored as decimal text) one cell per hour, folded by the caller.
        Raw driver statements: this is every live usage read's hot path."""
        postgres = self._postgres
        ph = "%s" if postgres else "?"
        sql = _CELLS
        params: list[Any] = [tenant_id, fingerprint, start_hour, end_hour]
        if customers is not None:
            if postgres:
                sql = _PG_CELLS.format(customers=" AND customer = ANY(%s)")
                params.append(list(customers))
            else:
                sql += " AND customer IN (SELECT value FROM json_each(?))"
                params.append(orjson.dumps(list(customers)).decode())
        elif postgres:
            sql = _PG_CELLS.format(customers="")
        with translated():
            raw = self._engine.raw_connection()
            try:
                driver: Any = raw.driver_connection
                if postgres:
                    driver.autocommit = True  # two reads, no BEGIN/ROLLBACK round trips
                cursor = driver.cursor()
                try:
                    cursor.execute(_KNOWN.replace("?", ph), (tenant_id, fingerprint))
                    if cursor.fetchone() is None:
                        return None
                    cursor.execute(sql, params)
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
                    if postgres and not driver.closed:
                        driver.autocommit = False
            finally:
                raw.close()
        return [
            (
                customer,
                tuple(orjson.loads(dims)),
                Cell(int(n), Decimal(total), _dec(low), _dec(high), int(raw_count)),
            )
            for customer, dims, n, total, low, high, raw_count in rows
        ]

    def prepare(self, tenant_id: str, definition: RollupDef, keep: set[str], now: datetime) -> None:
        """Store ``definition`` and backfill its cells from every stored event, unless it
        is stored already; drop definitions (and cells) whose fingerprint is not in
        ``keep`` (meters that changed or went away)."""

        def run() -> None:
            with translated(), self._writer_lock(), self._engine.begin() as conn:
                if self._postgres:
                    conn.execute(
                        select(func.pg_advisory_xact_lock(func.hashtext(_lock_key(tenant_id))))
                    )
                stored = set(
                    conn.execute(
                        select(rollup_defs.c.fingerprint).where(
                            rollup_defs.c.tenant_id == tenant_id
                        )
                    ).scalars()
                )
                for gone in sorted(stored - keep - {definition.fingerprint}):
                    _drop(conn, tenant_id, gone)
                if definition.fingerprint in stored:
                    return
                conn.execute(
                    insert(rollup_defs).values(
                        tenant_id=tenant_id,
                        fingerprint=definition.fingerprint,
                        definition=definition.as_dict(),
                        created_at=now,
                    )
                )
                _backfill(conn, tenant_id, definition)

        with_retries(run)


def _drop(conn: Connection, tenant_id: str, fingerprint: str) -> None:
    for table in (usage_rollups, rollup_defs):
        conn.execute(
            delete(table).where(table.c.tenant_id == tenant_id, table.c.fingerprint == fingerprint)
        )


def _backfill(conn: Connection, tenant_id: str, definition: RollupDef) -> None:
    """Recompute a definition's cells from the raw events (in the caller's transaction)."""
    _drop_cells = delete(usage_rollups).where(
        usage_rollups.c.tenant_id == tenant_id,
        usage_rollups.c.fingerprint == definition.fingerprint,
    )
    conn.execute(_drop_cells)
    c = events.c
    stmt = select(c.customer, c.ts, cast(c.properties, Text)).where(
        c.tenant_id == tenant_id, c.type == definition.event_type
    )
    accumulated = Accumulator()
    result = conn.execute(stmt.execution_options(yield_per=_BACKFILL_ROWS))
    for customer, ts, properties in result:
        event_cells(accumulated, [definition], customer, to_micros(ts), properties)
    cells = accumulated.cells()
    if conn.dialect.name != "postgresql":
        _register_sqlite_functions(conn)
    rows = _cell_rows(tenant_id, cells, conn.dialect.name == "postgresql")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), _BACKFILL_ROWS):
            statement = _PG_UPSERT if conn.dialect.name == "postgresql" else _SQLITE_UPSERT
            cursor.executemany(statement, rows[start : start + _BACKFILL_ROWS])
    finally:
        cursor.close()
