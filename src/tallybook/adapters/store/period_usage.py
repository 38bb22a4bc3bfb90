"""Per-period usage as billed (``period_usage``): written when a period invoice is
finalized, read by usage percentiles and the allowance model.

``write_period_usage`` runs in the transaction that stores a billing run's chunk (next
to ``invoice_totals``): the rows of each ``period`` invoice finalized
(``domain.analytics.period_usage``), then the removal of the rows of every period a
late-event adjustment of any invoice written (a draft too) corrects. Migration
``0019_period_usage`` backfills with the same two steps. ``PeriodUsageStore`` is the
reader (``ports.PeriodUsageReader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, delete, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import TableClause

from tallybook.adapters.store.schema_analytics import period_usage as table
from tallybook.adapters.store.types import decimal_param, to_micros
from tallybook.domain.analytics.period_usage import (
    MARKER,
    PeriodUsage,
    period_usage,
    stale_periods,
)
from tallybook.domain.billing.drafts import InvoiceWrite

BATCH = 2000


def usage_row(tenant_id: str, row: PeriodUsage) -> dict[str, Any]:
    """``row`` as the table's columns."""
    return {
        "tenant_id": tenant_id,
        "subscription_id": row.subscription,
        "period_start": row.period_start,
        "charge": row.charge,
        "period_end": row.period_end,
        "customer_id": row.customer,
        "used": row.used,
        "amount": row.amount,
        "lines": row.lines,
        "included": row.included,
        "span_start": row.span_start,
        "span_end": row.span_end,
    }


def insert_rows(
    conn: Connection, rows: Sequence[dict[str, Any]], target: TableClause = table
) -> None:
    """Insert summary rows, a batch at a time; a row already there is kept (a period
    invoice is finalized once, so this only guards a re-run backfill). ``target``: the
    table (a migration passes its own description of it)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), BATCH):
        conn.execute(
            dialect_insert(target).on_conflict_do_nothing(
                index_elements=["tenant_id", "subscription_id", "period_start", "charge"]
            ),
            list(rows[start : start + BATCH]),
        )


# A billing run writes four rows per subscription: they are bound here with the column
# types' own rules (``types.to_micros``, ``types.decimal_param``) and sent with the
# driver's executemany, without SQLAlchemy's per-row type processing (as
# ``credits.append_many`` does); the same conflict rule as ``insert_rows``.
_COLUMNS = (
    "tenant_id",
    "subscription_id",
    "period_start",
    "charge",
    "period_end",
    "customer_id",
    "used",
    "amount",
    "lines",
    "included",
    "span_start",
    "span_end",
)


def _insert_bound(conn: Connection, tenant_id: str, rows: Sequence[PeriodUsage]) -> None:
    """Insert ``rows`` (a row already there is kept) with the driver's executemany."""
    if not rows:
        return
    decimal = decimal_param(conn.dialect)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))}) "
        "ON CONFLICT (tenant_id, subscription_id, period_start, charge) DO NOTHING"
    )
    bound = [
        (
            tenant_id,
            row.subscription,
            to_micros(row.period_start),
            row.charge,
            to_micros(row.period_end),
            row.customer,
            decimal(row.used),
            decimal(row.amount),
            row.lines,
            None if row.included is None else decimal(row.included),
            None if row.span_start is None else to_micros(row.span_start),
            None if row.span_end is None else to_micros(row.span_end),
        )
        for row in rows
    ]
    for start in range(0, len(bound), BATCH):
        conn.exec_driver_sql(sql, bound[start : start + BATCH])


def remove_stale(
    conn: Connection,
    tenant_id: str,
    stale: Iterable[tuple[str, datetime]],
    target: TableClause = table,
) -> None:
    """Delete the rows of the billing periods holding each (subscription, instant)."""
    found = sorted(set(stale))
    c = target.c
    for start in range(0, len(found), 200):
        conn.execute(
            delete(target).where(
                c.tenant_id == tenant_id,
                or_(
                    *(
                        and_(
                            c.subscription_id == subscription,
                            c.period_start <= at,
                            c.period_end > at,
                        )
                        for subscription, at in found[start : start + 200]
                    )
                ),
            )
        )


def write_period_usage(conn: Connection, tenant_id: str, writes: Sequence[InvoiceWrite]) -> None:
    """Store the summary of the ``period`` invoices in ``writes`` that finalize now, and
    drop the periods that any of ``writes`` (drafts too) adjusts for late events, on
    ``conn`` in its transaction."""
    rows = [
        row
        for write in writes
        if write.finalize and write.draft.kind.value == "period"
        for row in period_usage(
            write.lines, write.draft.customer, write.draft.period_start, write.draft.period_end
        )
    ]
    _insert_bound(conn, tenant_id, rows)
    remove_stale(conn, tenant_id, (item for write in writes for item in stale_periods(write.lines)))


class PeriodUsageStore:
    """``ports.PeriodUsageReader`` over SQL."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def period_usage(
        self, tenant_id: str, start: datetime, until: datetime, charges: Sequence[str] | None
    ) -> list[PeriodUsage]:
        """The rows of periods lying inside ``[start, until)`` for ``charges`` (every
        charge when None) and the markers (one indexed range read on
        ``ix_period_usage_start``)."""
        t = table.c
        stmt = select(
            t.subscription_id,
            t.period_start,
            t.period_end,
            t.customer_id,
            t.charge,
            type_coerce(t.used, String),
            type_coerce(t.amount, String),
            t.lines,
            type_coerce(t.included, String),
            t.span_start,
            t.span_end,
        ).where(
            t.tenant_id == tenant_id,
            t.period_start >= start,
            t.period_start < until,
            t.period_end <= until,
        )
        if charges is not None:
            stmt = stmt.where(t.charge.in_(sorted({MARKER, *charges})))
        with self._engine.connect() as conn:
            result = conn.execute(stmt).all()
        return [
            PeriodUsage(
                sub,
                p_start,
                p_end,
                customer,
                charge,
                Decimal(used),
                Decimal(amount),
                lines,
                None if included is None else Decimal(included),
                span_start,
                span_end,
            )
            for (
                sub,
                p_start,
                p_end,
                customer,
                charge,
                used,
                amount,
                lines,
                included,
                span_start,
                span_end,
            ) in result
        ]
