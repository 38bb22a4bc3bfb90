"""Commitment terms of subscriptions (SQLAlchemy Core), and the final lines a true-up needs.

A term row is written once (``insert_commitments``); a renewal is a new row, written by
the billing run's unit of work.
``commitments_of`` and ``lines_since`` are read inside the billing unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tallybook.adapters.store.schema_billing import invoices
from tallybook.adapters.store.schema_credits import commitments
from tallybook.domain.billing.invoice import InvoiceStatus
from tallybook.domain.billing.lines import Line, line_from_dict
from tallybook.domain.credits.commitments import Commitment, CommitmentKind
from tallybook.domain.credits.ledger import AppliesTo

FINAL = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value)


def commitment_from_row(row: Any) -> Commitment:
    return Commitment(
        id=row.id,
        subscription=row.subscription_id,
        account=row.account_id,
        currency=row.currency,
        kind=CommitmentKind(row.kind),
        amount=Decimal(row.amount),
        term_start=row.term_start,
        term_end=row.term_end,
        applies_to=AppliesTo.from_json(row.applies_to),
        rollover_fraction=Decimal(row.rollover_fraction),
        renew=bool(row.renew),
        created_at=row.created_at,
    )


def commitments_of(
    conn: Connection, tenant_id: str, accounts: Iterable[str]
) -> dict[str, list[Commitment]]:
    """The accounts' commitment terms, by account, in term order."""
    ids = list(accounts)
    found: dict[str, list[Commitment]] = {}
    if not ids:
        return found
    stmt = (
        select(commitments)
        .where(commitments.c.tenant_id == tenant_id, commitments.c.account_id.in_(ids))
        .order_by(commitments.c.term_start, commitments.c.id)
    )
    for row in conn.execute(stmt):
        found.setdefault(row.account_id, []).append(commitment_from_row(row))
    return found


def lines_since(conn: Connection, tenant_id: str, account: str, since: datetime) -> list[Line]:
    """Lines of the account's final invoices of periods ending after ``since`` (void
    invoices bill nothing)."""
    stmt = select(invoices.c.lines).where(
        invoices.c.tenant_id == tenant_id,
        invoices.c.customer_id == account,
        invoices.c.status.in_(FINAL),
        invoices.c.period_end > since,
    )
    return [line_from_dict(d) for row in conn.execute(stmt) for d in row.lines]


def insert_commitments(conn: Connection, tenant_id: str, terms: Iterable[Commitment]) -> None:
    """Insert commitment terms (a term row is never updated; a renewal is a new row)."""
    rows = [
        {
            "tenant_id": tenant_id,
            "id": term.id,
            "subscription_id": term.subscription,
            "account_id": term.account,
            "currency": term.currency,
            "kind": term.kind.value,
            "amount": term.amount,
            "term_start": term.term_start,
            "term_end": term.term_end,
            "applies_to": term.applies_to.to_json(),
            "rollover_fraction": term.rollover_fraction,
            "renew": int(term.renew),
            "created_at": term.created_at,
        }
        for term in terms
    ]
    if rows:
        conn.execute(insert(commitments), rows)


class CommitmentStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def insert(self, tenant_id: str, commitment: Commitment) -> None:
        with self._engine.begin() as conn:
            insert_commitments(conn, tenant_id, [commitment])

    def of_subscription(self, tenant_id: str, subscription_id: str) -> list[Commitment]:
        stmt = (
            select(commitments)
            .where(
                commitments.c.tenant_id == tenant_id,
                commitments.c.subscription_id == subscription_id,
            )
            .order_by(commitments.c.term_start, commitments.c.id)
        )
        with self._engine.connect() as conn:
            return [commitment_from_row(row) for row in conn.execute(stmt)]

    def account_lines(
        self, tenant_id: str, account: str, since: datetime
    ) -> tuple[list[Line], list[Line]]:
        """(final lines, draft lines) of the account's invoices of periods ending after ``since``."""
        with self._engine.connect() as conn:
            final = lines_since(conn, tenant_id, account, since)
            stmt = select(invoices.c.lines).where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.customer_id == account,
                invoices.c.status == InvoiceStatus.DRAFT.value,
                invoices.c.period_end > since,
            )
            drafts = [line_from_dict(d) for row in conn.execute(stmt) for d in row.lines]
        return final, drafts
