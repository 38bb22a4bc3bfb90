"""Per-invoice usage revenue (``invoice_totals``): written when an invoice is finalized,
read by MRR.

``write_invoice_totals`` runs in the transaction that stores an invoice finalized (the
billing run's chunk, a credit purchase), so a final invoice always has its rows; the rule
is ``domain.analytics.usage_revenue``. Migration ``0018_invoice_totals`` backfills the
invoices finalized before it with the same rule. Rows are never changed: a final
invoice's lines, currency and issue time are fixed, and a void is seen through the
invoice's status when MRR reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, String, func, insert, select, type_coerce

from tallybook.adapters.store.schema_analytics import invoice_totals
from tallybook.adapters.store.schema_billing import invoices
from tallybook.domain.analytics.usage_revenue import FINAL_STATUSES, usage_revenue
from tallybook.domain.billing.drafts import InvoiceWrite
from tallybook.domain.billing.invoice import InvoiceStatus

# statuses named (not "not in FINAL_STATUSES") so the status index is searched
NOT_FINAL = tuple(s.value for s in InvoiceStatus if s.value not in FINAL_STATUSES)


def totals_rows(
    tenant_id: str,
    invoice_id: str,
    customer: str,
    currency: str,
    issue_at: datetime,
    lines: Iterable[Any],
) -> list[dict[str, Any]]:
    """The ``invoice_totals`` rows of one final invoice (``lines`` in the stored shape)."""
    return [
        {
            "tenant_id": tenant_id,
            "invoice_id": invoice_id,
            "customer_id": line_customer,
            "month": month,
            "currency": currency,
            "issue_at": issue_at,
            "usage_total": amount,
        }
        for (line_customer, month), amount in usage_revenue(lines, customer).items()
    ]


def write_invoice_totals(conn: Connection, tenant_id: str, writes: Sequence[InvoiceWrite]) -> None:
    """Store the usage revenue of the invoices in ``writes`` that finalize now (others are
    drafts and skipped), on ``conn`` in its transaction."""
    rows = [
        row
        for write in writes
        if write.finalize
        for row in totals_rows(
            tenant_id,
            write.id,
            write.draft.customer,
            write.draft.currency,
            write.draft.issue_at,
            write.lines,
        )
    ]
    for start in range(0, len(rows), 2000):
        conn.execute(insert(invoice_totals), rows[start : start + 2000])


def usage_revenue_rows(
    conn: Connection, tenant_id: str, issued_from: datetime
) -> Iterable[tuple[str, str, str, Decimal]]:
    """(customer, currency, month, usage revenue) of the tenant's final invoices issued at
    or after ``issued_from``. Rows exist only for invoices that were finalized; those whose
    status is no longer final (voided) are left out by id, found through the status index
    (``ix_invoices_status``) rather than by reading every invoice. PostgreSQL sums per key
    (NUMERIC, exact); SQLite returns one row per invoice and key (its SUM of text is a
    float) and the sum is made here with ``Decimal``."""
    t, i = invoice_totals, invoices
    gone = select(i.c.id).where(i.c.tenant_id == tenant_id, i.c.status.in_(NOT_FINAL))
    where = (
        t.c.tenant_id == tenant_id,
        t.c.issue_at >= issued_from,
        t.c.invoice_id.not_in(gone.scalar_subquery()),
    )
    if conn.dialect.name == "postgresql":
        stmt = (
            select(t.c.customer_id, t.c.currency, t.c.month, func.sum(t.c.usage_total))
            .where(*where)
            .group_by(t.c.customer_id, t.c.currency, t.c.month)
        )
        for customer, currency, month, amount in conn.execute(stmt):
            yield customer, currency, month, Decimal(amount)
        return
    raw = type_coerce(t.c.usage_total, String)  # decimal text, summed below
    stmt = select(t.c.customer_id, t.c.currency, t.c.month, raw).where(*where)
    sums: dict[tuple[str, str, str], Decimal] = {}
    for customer, currency, month, amount in conn.execute(stmt):
        key = (customer, currency, month)
        found = sums.get(key)
        sums[key] = Decimal(amount) if found is None else found + Decimal(amount)
    for (customer, currency, month), amount in sums.items():
        yield customer, currency, month, amount
