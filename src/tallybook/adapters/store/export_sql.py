"""Reads for warehouse exports: a tenant's rows of one table changed in ``[since, until)``,
streamed in batches (server-side cursor on PostgreSQL) so memory stays bounded.

Each table is read by its change column: ``events.received_at``,
``customers.created_at``, ``subscriptions.updated_at``, ``invoices.updated_at``.
Invoice lines are unpacked from their invoice (``invoice_lines``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Engine, Integer, Table, select

from tallybook.adapters.store.schema_billing import customers, invoices, subscriptions
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.types import UtcMicros
from tallybook.services.ports import ExportColumn, ExportKind

BATCH = 10_000
TABLES: dict[str, tuple[Table, str]] = {
    "events": (events, "received_at"),
    "customers": (customers, "created_at"),
    "subscriptions": (subscriptions, "updated_at"),
    "invoices": (invoices, "updated_at"),
}
SKIPPED = {"tenant_id", "body_hash", "content_hash", "lines"}


class ExportStore:
    """``ports.ExportStore`` over SQL."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def tables(self) -> tuple[str, ...]:
        """The exported table names, in export order."""
        return tuple(TABLES)

    def columns(self, name: str) -> list[ExportColumn]:
        """The exported columns of table ``name`` (tenant and internal hashes left out)."""
        return [ExportColumn(c.name, _kind(c.type)) for c in self._columns(name)]

    def _columns(self, name: str) -> list[Column[Any]]:
        table, _ = TABLES[name]
        return [c for c in table.columns if c.name not in SKIPPED]

    def batches(
        self, tenant_id: str, name: str, since: datetime | None, until: datetime
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows of ``name`` whose change column is in ``[since, until)``, in batches."""
        table, column = TABLES[name]
        changed = table.c[column]
        wanted = self._columns(name) + ([table.c.lines] if name == "invoices" else [])
        stmt = select(*wanted).where(table.c.tenant_id == tenant_id, changed < until)
        if since is not None:
            stmt = stmt.where(changed >= since)
        stmt = stmt.order_by(changed).execution_options(yield_per=BATCH)
        with self._engine.connect() as conn:
            result = conn.execute(stmt)
            for partition in result.partitions(BATCH):
                yield [dict(row._mapping) for row in partition]


def _kind(column_type: Any) -> ExportKind:
    if isinstance(column_type, UtcMicros):
        return "instant"
    if isinstance(column_type, Integer):
        return "integer"
    return "text"  # text, decimals (exact, as strings) and JSON documents
