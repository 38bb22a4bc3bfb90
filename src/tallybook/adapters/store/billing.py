"""Billing-run storage: claim accounts, read their state, write drafts, finalize, number.

One transaction per chunk of accounts (bill-to customers):

1. **claim** the accounts' customer rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   two runs (or two server processes) work on different accounts and never bill one
   twice; the skipped accounts are returned and the caller retries them with a blocking
   claim once the other run is done. SQLite serialises writers with ``BEGIN IMMEDIATE``:
   the whole chunk is already exclusive.
2. read the accounts' subscriptions, open drafts and recent final lines (the ledger);
3. let the caller compute the wanted drafts (pure domain);
4. write (``billing_writes``): insert new invoices, rewrite changed drafts, delete drafts no longer wanted,
   finalize the due ones with numbers taken from the tenant's counter row in the same
   transaction (gapless: a rollback returns them), record slots and progress.

The ``invoice_slots`` primary key (subscription, kind, period start) and the invoices'
unique (customer, kind, period) make a second invoice for a period impossible even if a
claim were bypassed: the transaction fails and the chunk is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.billing_writes import (
    AccountResult,
    AccountState,
    Counts,
    OpenDraft,
    Writes,
    apply_writes,
    plan_writes,
)
from tallybook.adapters.store.customers import customer_from_row
from tallybook.adapters.store.schema_billing import (
    customers,
    invoices,
    subscriptions,
)
from tallybook.adapters.store.subscriptions import (
    StoredSubscription,
    subscriptions_of_accounts,
)
from tallybook.domain.invoices import (
    InvoiceStatus,
    line_from_dict,
)
from tallybook.domain.subscriptions import Customer

FINAL = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value, InvoiceStatus.VOID.value)


Work = Callable[[AccountState], AccountResult]


class BillingStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

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

    # -- one chunk ------------------------------------------------------------------------

    def process(
        self,
        tenant_id: str,
        accounts: Sequence[str],
        work: Work,
        *,
        now: datetime,
        ledger_since: datetime | None,
        skip_locked: bool,
    ) -> tuple[Counts, list[str]]:
        """Claim, compute and write one chunk; returns counts and the skipped accounts."""
        for attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    return self._process(
                        conn, tenant_id, accounts, work, now, ledger_since, skip_locked
                    )
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _process(
        self,
        conn: Connection,
        tenant_id: str,
        accounts: Sequence[str],
        work: Work,
        now: datetime,
        ledger_since: datetime | None,
        skip_locked: bool,
    ) -> tuple[Counts, list[str]]:
        claimed = self._claim(conn, tenant_id, accounts, skip_locked)
        skipped = [a for a in accounts if a not in claimed]
        states = self._load(conn, tenant_id, claimed, ledger_since)
        counts, writes = Counts(), Writes()
        for account in sorted(states):
            state = states[account]
            result = work(state)
            plan_writes(tenant_id, state, result, now, counts, writes)
            counts.accounts += 1
            counts.subscriptions += len(state.subscriptions)
        apply_writes(conn, tenant_id, writes)
        return counts, skipped

    def _claim(
        self, conn: Connection, tenant_id: str, accounts: Sequence[str], skip_locked: bool
    ) -> dict[str, Customer]:
        stmt = (
            select(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id.in_(list(accounts)))
            .order_by(customers.c.id)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return {row.id: customer_from_row(row) for row in conn.execute(stmt)}

    def _load(
        self,
        conn: Connection,
        tenant_id: str,
        claimed: dict[str, Customer],
        ledger_since: datetime | None,
    ) -> dict[str, AccountState]:
        ids = list(claimed)
        states = {a: AccountState(claimed[a], [], {}, []) for a in ids}
        if not ids:
            return states
        for stored in subscriptions_of_accounts(conn, tenant_id, ids):
            states[stored.account].subscriptions.append(stored)
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
