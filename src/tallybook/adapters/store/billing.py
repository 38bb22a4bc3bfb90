"""Billing-run storage: claim accounts, read their state, write drafts, finalize, number.

One transaction per chunk of accounts (bill-to customers):

1. **claim** the accounts' customer rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   two runs (or two server processes) work on different accounts and never bill one
   twice; the skipped accounts are returned and the caller retries them with a blocking
   claim once the other run is done. SQLite serialises writers with ``BEGIN IMMEDIATE``:
   the whole chunk is already exclusive.
2. read the accounts' subscriptions, open drafts and recent final lines (the ledger);
3. the billing service computes the wanted drafts and ``domain.billing.drafts`` decides
   the writes; ``take_numbers`` reserves the final invoices' numbers from the tenant's
   counter row in the same transaction (gapless: a rollback returns them);
4. ``write`` executes the chunk's plan (``billing_writes``).

``BillingUnitOfWork`` is that transaction (``services.ports.BillingUnitOfWork``): the
service opens it, reads, decides and tells it what to write; it never calls back.

The ``invoice_slots`` primary key (subscription, kind, period start) and the invoices'
unique (customer, kind, period) make a second invoice for a period impossible even if a
claim were bypassed: the transaction fails with ``WriteConflict`` and the service retries the chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.billing_writes import take_numbers, write_plan
from tallybook.adapters.store.commitments import commitments_of, insert_commitments, lines_since
from tallybook.adapters.store.credits import append_many, grant_balances, insert_grants
from tallybook.adapters.store.customers import customer_from_row
from tallybook.adapters.store.email_deliveries import email_rows
from tallybook.adapters.store.outbox import OutboxWriter, finalized_messages
from tallybook.adapters.store.schema_billing import customers, invoices, subscriptions
from tallybook.adapters.store.subscriptions import subscriptions_of_accounts
from tallybook.adapters.store.unit_of_work import SqlUnitOfWork
from tallybook.domain.billing.drafts import ChunkPlan, OpenDraft
from tallybook.domain.billing.invoice import InvoiceStatus
from tallybook.domain.billing.lines import line_from_dict
from tallybook.domain.credits.commitments import Commitment
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.errors import WriteConflict
from tallybook.domain.subscriptions.model import Customer
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.ports import AccountState

FINAL = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value, InvoiceStatus.VOID.value)


class BillingStore:
    """``outbox`` (when given) records one ``invoice.finalized`` per invoice a chunk
    finalizes, in the chunk's transaction."""

    def __init__(self, engine: Engine, outbox: OutboxWriter | None = None):
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._outbox = outbox

    # -- what is due --------------------------------------------------------------------

    def due_accounts(
        self, tenant_id: str, as_of: datetime, *, after: str | None, limit: int
    ) -> list[str]:
        stmt = (
            select(subscriptions.c.account_id)
            .where(
                subscriptions.c.tenant_id == tenant_id,
                subscriptions.c.next_issue_at <= as_of,
            )
            .distinct()
            .order_by(subscriptions.c.account_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(subscriptions.c.account_id > after)
        with self._engine.connect() as conn:
            return list(conn.scalars(stmt))

    def count_due_subscriptions(self, tenant_id: str, as_of: datetime) -> int:
        from sqlalchemy import func

        stmt = select(func.count()).where(
            subscriptions.c.tenant_id == tenant_id, subscriptions.c.next_issue_at <= as_of
        )
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def due_tenants(self, as_of: datetime) -> list[str]:
        stmt = (
            select(subscriptions.c.tenant_id)
            .where(subscriptions.c.next_issue_at <= as_of)
            .distinct()
            .order_by(subscriptions.c.tenant_id)
        )
        with self._engine.connect() as conn:
            return list(conn.scalars(stmt))

    def subscriptions_of(self, tenant_id: str, accounts: Sequence[str]) -> list[StoredSubscription]:
        with self._engine.connect() as conn:
            return subscriptions_of_accounts(conn, tenant_id, accounts)

    def unit_of_work(self) -> BillingUnitOfWork:
        """A new write transaction for one chunk (opened by ``with``)."""
        return BillingUnitOfWork(self._engine, self._postgres, self._outbox)


class BillingUnitOfWork(SqlUnitOfWork):
    """One chunk's transaction: claim, read, number and write; commit or roll back.

    Leaving the ``with`` block without ``commit()`` rolls back. A unique-key race lost to a
    concurrent run (``IntegrityError``) surfaces as ``WriteConflict``.
    """

    def __init__(self, engine: Engine, postgres: bool, outbox: OutboxWriter | None = None):
        super().__init__(engine)
        self._postgres = postgres
        self._outbox = outbox

    def lost_race(self, error: IntegrityError) -> WriteConflict:
        return WriteConflict("a concurrent billing run wrote first", code="write_conflict")

    def take_numbers(self, tenant_id: str, count: int) -> int:
        """Reserve ``count`` consecutive invoice numbers; returns the last."""
        return take_numbers(self.conn, tenant_id, count)

    def write(self, tenant_id: str, plan: ChunkPlan) -> None:
        """Execute the chunk's decided writes; with an outbox, one ``invoice.finalized``
        message per invoice the chunk numbers, in the same transaction."""
        write_plan(self.conn, tenant_id, plan)
        email_rows(self.conn, tenant_id, [w.id for w in plan.to_number], plan.now)
        if self._outbox is not None and plan.to_number:
            self._outbox.add(self.conn, tenant_id, finalized_messages(plan), plan.now)

    def insert_grants(self, tenant_id: str, grants: Sequence[Grant]) -> None:
        """Store grants bought on an invoice finalized in this transaction (one insert)."""
        insert_grants(self.conn, tenant_id, grants)

    def insert_commitments(self, tenant_id: str, terms: Sequence[Commitment]) -> None:
        """Store commitment terms renewed by this run."""
        insert_commitments(self.conn, tenant_id, terms)

    def write_credits(
        self,
        tenant_id: str,
        writes: Sequence[tuple[str, str, Sequence[Entry]]],
        now: datetime,
    ) -> None:
        """Append ledger entries ((customer, currency, entries)) in this transaction."""
        append_many(self.conn, tenant_id, writes, now)

    def claim(
        self, tenant_id: str, accounts: Sequence[str], *, skip_locked: bool
    ) -> dict[str, Customer]:
        """Lock the accounts' customer rows (PostgreSQL: ``FOR UPDATE``, skipping rows
        another run holds when ``skip_locked``); the claimed accounts by id."""
        stmt = (
            select(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id.in_(list(accounts)))
            .order_by(customers.c.id)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return {row.id: customer_from_row(row) for row in self.conn.execute(stmt)}

    def account_states(
        self, tenant_id: str, claimed: dict[str, Customer], ledger_since: datetime | None
    ) -> dict[str, AccountState]:
        """The claimed accounts' subscriptions, open drafts and (when ``ledger_since`` is
        set) the lines of their final invoices of periods ending after it."""
        conn = self.conn
        ids = list(claimed)
        states = {a: AccountState(claimed[a], [], {}, []) for a in ids}
        if not ids:
            return states
        for stored in subscriptions_of_accounts(conn, tenant_id, ids):
            states[stored.account].subscriptions.append(stored)
        for account, balances in grant_balances(conn, tenant_id, ids).items():
            states[account].credits = balances
        for account, terms in commitments_of(conn, tenant_id, ids).items():
            states[account].commitments = terms
            first = min(term.term_start for term in terms)
            states[account].term_lines = lines_since(conn, tenant_id, account, first)
        open_stmt = select(
            invoices.c.id,
            invoices.c.customer_id,
            invoices.c.kind,
            invoices.c.period_start,
            invoices.c.period_end,
            invoices.c.content_hash,
            invoices.c.created_at,
        ).where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.customer_id.in_(ids),
            invoices.c.status == InvoiceStatus.DRAFT.value,
        )
        for row in conn.execute(open_stmt):
            key = (row.kind, row.period_start, row.period_end)
            states[row.customer_id].drafts[key] = OpenDraft(
                row.id, row.customer_id, key, row.content_hash, row.created_at
            )
        if ledger_since is not None:
            final_stmt = select(invoices.c.customer_id, invoices.c.lines).where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.customer_id.in_(ids),
                invoices.c.status.in_(FINAL),
                invoices.c.period_end > ledger_since,
            )
            for final in conn.execute(final_stmt):
                states[final.customer_id].final_lines += [line_from_dict(d) for d in final.lines]
        return states
