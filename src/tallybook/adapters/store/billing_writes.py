"""Billing-run writes: a chunk's ``ChunkPlan`` executed, and the gapless number counter.

``domain.billing.drafts`` decides what a chunk stores; ``write_plan`` executes it in the
chunk's transaction with a few executemany calls (slot rows of rewritten and deleted
drafts removed, deleted drafts removed, new invoices inserted, changed ones rewritten,
slots and subscription progress recorded). ``take_numbers`` reserves consecutive numbers
from the tenant's counter row in the same transaction: a rollback gives them back, so
numbering stays gapless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.invoice_totals import write_invoice_totals
from tallybook.adapters.store.period_usage import write_period_usage
from tallybook.adapters.store.schema_billing import invoice_counters, invoice_slots, invoices
from tallybook.adapters.store.subscriptions import set_progress
from tallybook.domain.billing.drafts import ChunkPlan, InvoiceWrite
from tallybook.domain.billing.invoice import InvoiceStatus


def write_plan(conn: Connection, tenant_id: str, plan: ChunkPlan) -> None:
    """Execute ``plan`` (numbers already assigned) on ``conn``, in its transaction."""
    stale = plan.stale_invoices
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        conn.execute(
            delete(invoice_slots).where(
                invoice_slots.c.tenant_id == tenant_id, invoice_slots.c.invoice_id.in_(chunk)
            )
        )
    for start in range(0, len(plan.deleted), 500):
        conn.execute(
            delete(invoices).where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.id.in_(plan.deleted[start : start + 500]),
            )
        )
    if plan.inserts:
        conn.execute(insert(invoices), [_invoice_row(tenant_id, w, plan.now) for w in plan.inserts])
    if plan.rewrites:
        conn.execute(
            _UPDATE_DRAFT,
            [_update_params(_invoice_row(tenant_id, w, plan.now)) for w in plan.rewrites],
        )
    write_invoice_totals(conn, tenant_id, [*plan.inserts, *plan.rewrites])  # finalized ones
    write_period_usage(conn, tenant_id, [*plan.inserts, *plan.rewrites])  # finalized ones
    if plan.slots:
        conn.execute(
            insert(invoice_slots),
            [
                {
                    "tenant_id": tenant_id,
                    "subscription_id": slot.subscription,
                    "kind": slot.kind.value,
                    "period_start": slot.period_start,
                    "invoice_id": slot.invoice_id,
                }
                for slot in plan.slots
            ],
        )
    set_progress(conn, tenant_id, plan.progress)


def take_numbers(conn: Connection, tenant_id: str, count: int) -> int:
    """Reserve ``count`` consecutive numbers; returns the last. Locks the counter row."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(invoice_counters)
        .values(tenant_id=tenant_id, last_number=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    stmt = (
        update(invoice_counters)
        .where(invoice_counters.c.tenant_id == tenant_id)
        .values(last_number=invoice_counters.c.last_number + count)
        .returning(invoice_counters.c.last_number)
    )
    return int(conn.execute(stmt).scalar_one())


_UPDATE_DRAFT = (
    update(invoices)
    .where(
        invoices.c.tenant_id == bindparam("b_tenant"),
        invoices.c.id == bindparam("b_id"),
        invoices.c.status == InvoiceStatus.DRAFT.value,
    )
    .values(
        status=bindparam("status"),
        number=bindparam("number"),
        issue_at=bindparam("issue_at"),
        subtotal=bindparam("subtotal"),
        discount_total=bindparam("discount_total"),
        credits_applied=bindparam("credits_applied"),
        total=bindparam("total"),
        lines=bindparam("lines"),
        content_hash=bindparam("content_hash"),
        updated_at=bindparam("updated_at"),
        finalized_at=bindparam("finalized_at"),
        tax_total=bindparam("tax_total"),
        tax_note=bindparam("tax_note"),
        parties=bindparam("parties"),
    )
)


def _update_params(row: dict[str, Any]) -> dict[str, Any]:
    params = {k: row[k] for k in _UPDATE_KEYS}
    params["b_tenant"], params["b_id"] = row["tenant_id"], row["id"]
    return params


_UPDATE_KEYS = (
    "status",
    "number",
    "issue_at",
    "subtotal",
    "discount_total",
    "credits_applied",
    "total",
    "lines",
    "content_hash",
    "updated_at",
    "finalized_at",
    "tax_total",
    "tax_note",
    "parties",
)


def _invoice_row(tenant_id: str, write: InvoiceWrite, now: datetime) -> dict[str, Any]:
    draft = write.draft
    return {
        "tenant_id": tenant_id,
        "id": write.id,
        "number": write.number,
        "status": (InvoiceStatus.FINALIZED if write.finalize else InvoiceStatus.DRAFT).value,
        "customer_id": draft.customer,
        "currency": draft.currency,
        "kind": draft.kind.value,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "issue_at": draft.issue_at,
        "subtotal": draft.totals.subtotal,
        "discount_total": draft.totals.discount_total,
        "credits_applied": draft.totals.credits_applied,
        "total": draft.totals.total,
        "lines": write.lines,
        "content_hash": write.content_hash,
        "created_at": write.created_at,
        "updated_at": now,
        "finalized_at": now if write.finalize else None,
        "voided_at": None,
        "paid_at": None,
        "tax_total": draft.totals.tax_total,
        "tax_note": draft.tax_note,
        "parties": dict(draft.parties) if write.finalize and draft.parties is not None else None,
    }
