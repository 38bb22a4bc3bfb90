"""Billing-run writes: what a chunk of accounts stores, and the gapless number counter.

``plan_writes`` compares the drafts a run computed for an account with the open drafts
stored for it (insert, rewrite when the lines changed or the draft finalizes, delete drafts
no longer wanted); ``apply_writes`` writes a whole chunk with a few executemany calls and
numbers the invoices it finalizes from the tenant's counter row (``take_numbers``), in the
chunk's transaction: a rollback gives the numbers back, so numbering stays gapless.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.schema_billing import invoice_counters, invoice_slots, invoices
from tallybook.adapters.store.subscriptions import StoredSubscription, set_progress
from tallybook.domain.billing.invoice import (
    InvoiceDraft,
    InvoiceLine,
    InvoiceStatus,
    content_digest,
    line_to_dict,
)
from tallybook.domain.subscriptions.model import Customer


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
    failed: bool = False  # the account could not be billed: leave everything as it is


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    finalized: int = 0
    deleted: int = 0
    accounts: int = 0
    subscriptions: int = 0
    failed: int = 0

    def add(self, other: Counts) -> None:
        for name in (
            "created",
            "updated",
            "finalized",
            "deleted",
            "accounts",
            "subscriptions",
            "failed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Writes:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    slots: list[dict[str, Any]] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    to_number: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    progress: list[tuple[str, datetime | None, datetime | None]] = field(default_factory=list)


def plan_writes(
    tenant_id: str,
    state: AccountState,
    result: AccountResult,
    now: datetime,
    counts: Counts,
    writes: Writes,
) -> None:
    if result.failed:
        counts.failed += 1
        return
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


def apply_writes(conn: Connection, tenant_id: str, writes: Writes) -> None:
    if writes.to_number:
        writes.to_number.sort(key=lambda item: item[0])
        last = take_numbers(conn, tenant_id, len(writes.to_number))
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
