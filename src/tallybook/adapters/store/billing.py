"""Billing-run storage: claim accounts, read their state, write drafts, finalize, number.

One transaction per chunk of accounts (bill-to customers):

1. **claim** the accounts' customer rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   two runs (or two server processes) work on different accounts and never bill one
   twice; the skipped accounts are returned and the caller retries them with a blocking
   claim once the other run is done. SQLite serialises writers with ``BEGIN IMMEDIATE``:
   the whole chunk is already exclusive.
2. read the accounts' subscriptions, open drafts and recent final lines (the ledger);
3. let the caller compute the wanted drafts (pure domain);
4. write: insert new invoices, rewrite changed drafts, delete drafts no longer wanted,
   finalize the due ones with numbers taken from the tenant's counter row in the same
   transaction (gapless: a rollback returns them), record slots and progress.

The ``invoice_slots`` primary key (subscription, kind, period start) and the invoices'
unique (customer, kind, period) make a second invoice for a period impossible even if a
claim were bypassed: the transaction fails and the chunk is retried.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.customers import customer_from_row
from tallybook.adapters.store.schema_billing import (
    customers,
    invoice_counters,
    invoice_slots,
    invoices,
    subscriptions,
)
from tallybook.adapters.store.subscriptions import (
    StoredSubscription,
    set_progress,
    subscriptions_of_accounts,
)
from tallybook.domain.invoices import (
    InvoiceDraft,
    InvoiceLine,
    InvoiceStatus,
    content_digest,
    line_from_dict,
    line_to_dict,
)
from tallybook.domain.subscriptions import Customer

FINAL = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value, InvoiceStatus.VOID.value)


def new_id(prefix: str) -> str:
    """Time-ordered ids (48-bit milliseconds + 64 random bits): index-friendly, sortable."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


@dataclass(frozen=True, slots=True)
class OpenDraft:
    id: str
    customer: str
    key: tuple[str, datetime, datetime]
    content_hash: str
    created_at: datetime


@dataclass
class AccountState:
    customer: Customer
    subscriptions: list[StoredSubscription]
    drafts: dict[tuple[str, datetime, datetime], OpenDraft]
    final_lines: list[InvoiceLine]


@dataclass
class AccountResult:
    """What the caller wants stored for one account."""

    drafts: list[tuple[InvoiceDraft, bool]]  # (draft, finalize now)
    progress: list[tuple[str, datetime | None, datetime | None]]  # (sub, through, next)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    finalized: int = 0
    deleted: int = 0
    accounts: int = 0
    subscriptions: int = 0

    def add(self, other: Counts) -> None:
        for name in ("created", "updated", "finalized", "deleted", "accounts", "subscriptions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


Work = Callable[[AccountState], AccountResult]


@dataclass
class _Writes:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    slots: list[dict[str, Any]] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    to_number: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    progress: list[tuple[str, datetime | None, datetime | None]] = field(default_factory=list)


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
        counts, writes = Counts(), _Writes()
        for account in sorted(states):
            state = states[account]
            result = work(state)
            self._plan_writes(tenant_id, state, result, now, counts, writes)
            counts.accounts += 1
            counts.subscriptions += len(state.subscriptions)
        self._write(conn, tenant_id, writes, now)
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

    def _plan_writes(
        self,
        tenant_id: str,
        state: AccountState,
        result: AccountResult,
        now: datetime,
        counts: Counts,
        writes: _Writes,
    ) -> None:
        open_drafts = dict(state.drafts)
        for draft, finalize in result.drafts:
            existing = open_drafts.pop(_key(draft), None)
            invoice_id = existing.id if existing is not None else new_id("inv")
            row = _invoice_row(tenant_id, invoice_id, draft, now)
            row["created_at"] = existing.created_at if existing is not None else now
            changed = existing is not None and existing.content_hash != row["content_hash"]
            if existing is None:
                counts.created += 1
                writes.inserts.append(row)
            elif changed or finalize:
                if changed:
                    counts.updated += 1
                writes.updates.append(row)
                writes.rewritten.append(invoice_id)
            else:
                continue
            if finalize:
                counts.finalized += 1
                row.update(status=InvoiceStatus.FINALIZED.value, finalized_at=now)
                order = (draft.issue_at, draft.customer, draft.kind.value, draft.period_start)
                writes.to_number.append((order, row))
            writes.slots += [
                {
                    "tenant_id": tenant_id,
                    "subscription_id": sid,
                    "kind": kind.value,
                    "period_start": start,
                    "invoice_id": invoice_id,
                }
                for sid, kind, start in draft.slots
            ]
        for stale in open_drafts.values():
            counts.deleted += 1
            writes.deleted.append(stale.id)
        writes.progress += result.progress

    def _write(self, conn: Connection, tenant_id: str, writes: _Writes, now: datetime) -> None:
        if writes.to_number:
            writes.to_number.sort(key=lambda item: item[0])
            last = self._take_numbers(conn, tenant_id, len(writes.to_number))
            first = last - len(writes.to_number) + 1
            for offset, (_, row) in enumerate(writes.to_number):
                row["number"] = first + offset
        stale = writes.deleted + writes.rewritten
        for start in range(0, len(stale), 500):
            chunk = stale[start : start + 500]
            conn.execute(
                delete(invoice_slots).where(
                    invoice_slots.c.tenant_id == tenant_id, invoice_slots.c.invoice_id.in_(chunk)
                )
            )
        for start in range(0, len(writes.deleted), 500):
            conn.execute(
                delete(invoices).where(
                    invoices.c.tenant_id == tenant_id,
                    invoices.c.id.in_(writes.deleted[start : start + 500]),
                )
            )
        if writes.inserts:
            conn.execute(insert(invoices), writes.inserts)
        if writes.updates:
            conn.execute(_UPDATE_DRAFT, [_update_params(row) for row in writes.updates])
        if writes.slots:
            conn.execute(insert(invoice_slots), writes.slots)
        set_progress(conn, tenant_id, writes.progress)

    def _take_numbers(self, conn: Connection, tenant_id: str, count: int) -> int:
        """Reserve ``count`` consecutive numbers; returns the last. Locks the counter row."""
        dialect_insert = pg_insert if self._postgres else sqlite_insert
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
)


def _key(draft: InvoiceDraft) -> tuple[str, datetime, datetime]:
    return (draft.kind.value, draft.period_start, draft.period_end)


def _invoice_row(
    tenant_id: str, invoice_id: str, draft: InvoiceDraft, now: datetime
) -> dict[str, Any]:
    lines = [line_to_dict(line) for line in draft.lines]
    return {
        "tenant_id": tenant_id,
        "id": invoice_id,
        "number": None,
        "status": InvoiceStatus.DRAFT.value,
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
        "lines": lines,
        "content_hash": content_digest(lines),
        "created_at": now,
        "updated_at": now,
        "finalized_at": None,
        "voided_at": None,
        "paid_at": None,
    }
