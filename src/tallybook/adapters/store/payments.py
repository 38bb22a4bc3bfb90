"""Payment-provider sync state (``ports.SyncStore``): remote customer ids, per-invoice
sync rows with a lease, and handled provider events.

Claims are one upsert per invoice that succeeds only when no other worker holds a live
lease (``ON CONFLICT ... DO UPDATE ... WHERE claimed_until <= now``): on PostgreSQL the
conflicting row is locked for the statement, on SQLite every write transaction is
``BEGIN IMMEDIATE``; either way two workers never hold one invoice. Outcomes are written
only with the claim's token, so a worker whose lease ran out writes nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.schema_billing import invoices
from tallybook.adapters.store.schema_payments import (
    provider_customer_claims,
    provider_customers,
    provider_events,
    provider_invoices,
)
from tallybook.domain.payments import SyncStatus
from tallybook.services.ports import Claim, ProviderEvent, SyncRow

FINAL = ("finalized", "paid", "void")


def _row(row: Any) -> SyncRow:
    return SyncRow(
        invoice_id=row.invoice_id,
        status=SyncStatus(row.status),
        remote_id=row.remote_id,
        remote_status=row.remote_status,
        local_status=row.local_status,
        error=row.error,
        attempts=int(row.attempts),
        updated_at=row.updated_at,
        generation=int(row.generation),
    )


class SyncStore:
    """``ports.SyncStore`` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine):
        self._engine = engine
        postgres = engine.dialect.name == "postgresql"
        self._insert = pg_insert if postgres else sqlite_insert
        # SQLite has one writer: the sync threads of this process queue here instead of
        # in SQLite's busy handler (which sleeps up to 100 ms between tries)
        self._lock: threading.Lock | None = None if postgres else threading.Lock()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        if self._lock is None:
            with self._engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._lock, self._engine.begin() as conn:
            yield conn

    # -- what needs work ---------------------------------------------------------------

    def _due_condition(self, provider: str, now: datetime, include_failed: bool) -> Any:
        p, i = provider_invoices.c, invoices.c
        # paid here before any push: not pushed (Stripe would collect it again)
        never = and_(p.invoice_id.is_(None), i.status == "finalized")
        pending = and_(p.status == SyncStatus.PENDING.value, p.next_attempt_at <= now)
        voided = and_(
            p.status == SyncStatus.SYNCED.value,
            i.status == "void",
            or_(p.local_status.is_(None), p.local_status != "void"),
        )
        wanted = [never, pending, voided]
        if include_failed:
            wanted.append(p.status == SyncStatus.FAILED.value)
        free = or_(p.claimed_until.is_(None), p.claimed_until <= now)
        return and_(i.status.in_(FINAL), or_(*wanted), free)

    def _joined(self, provider: str) -> Any:
        p, i = provider_invoices.c, invoices.c
        return invoices.outerjoin(
            provider_invoices,
            and_(p.tenant_id == i.tenant_id, p.invoice_id == i.id, p.provider == provider),
        )

    def due(
        self,
        provider: str,
        tenant_id: str,
        now: datetime,
        *,
        limit: int,
        include_failed: bool = False,
        after: int | None = None,
    ) -> list[tuple[str, int]]:
        i = invoices.c
        stmt = (
            select(i.id, i.number)
            .select_from(self._joined(provider))
            .where(i.tenant_id == tenant_id, self._due_condition(provider, now, include_failed))
            .order_by(i.number)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(i.number > after)
        with self._engine.connect() as conn:
            return [(row.id, int(row.number)) for row in conn.execute(stmt)]

    def count_due(
        self, provider: str, tenant_id: str, now: datetime, *, include_failed: bool = False
    ) -> int:
        i = invoices.c
        stmt = (
            select(func.count())
            .select_from(self._joined(provider))
            .where(i.tenant_id == tenant_id, self._due_condition(provider, now, include_failed))
        )
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def tenants_with_work(self, provider: str, now: datetime) -> list[str]:
        i = invoices.c
        stmt = (
            select(i.tenant_id)
            .distinct()
            .select_from(self._joined(provider))
            .where(self._due_condition(provider, now, False))
        )
        with self._engine.connect() as conn:
            return sorted(str(t) for t in conn.scalars(stmt))

    def marked_due(self, provider: str, now: datetime, *, limit: int) -> list[tuple[str, str]]:
        p = provider_invoices.c
        stmt = (
            select(p.tenant_id, p.invoice_id)
            .where(
                p.provider == provider,
                p.status == SyncStatus.PENDING.value,
                p.next_attempt_at <= now,
                or_(p.claimed_until.is_(None), p.claimed_until <= now),
            )
            .order_by(p.next_attempt_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(row.tenant_id, row.invoice_id) for row in conn.execute(stmt)]

    def tenants(self, provider: str) -> list[str]:
        p = provider_invoices.c
        stmt = select(p.tenant_id).distinct().where(p.provider == provider)
        with self._engine.connect() as conn:
            return sorted(str(t) for t in conn.scalars(stmt))

    # -- leases ------------------------------------------------------------------------

    def claim(
        self,
        provider: str,
        tenant_id: str,
        invoice_ids: Sequence[str],
        now: datetime,
        lease_until: datetime,
    ) -> list[Claim]:
        claims = []
        p = provider_invoices.c
        with self._begin() as conn:
            for invoice_id in invoice_ids:
                token = os.urandom(16).hex()
                values = self._insert(provider_invoices).values(
                    tenant_id=tenant_id,
                    provider=provider,
                    invoice_id=invoice_id,
                    status=SyncStatus.PENDING.value,
                    attempts=1,
                    generation=1,
                    next_attempt_at=now,
                    claim_token=token,
                    claimed_until=lease_until,
                    updated_at=now,
                )
                stmt = values.on_conflict_do_update(
                    index_elements=["tenant_id", "provider", "invoice_id"],
                    set_={
                        "claim_token": token,
                        "claimed_until": lease_until,
                        "attempts": p.attempts + 1,
                    },
                    where=or_(p.claimed_until.is_(None), p.claimed_until <= now),
                ).returning(*provider_invoices.c)
                row = conn.execute(stmt).first()
                if row is None:
                    continue
                claims.append(Claim(tenant_id, invoice_id, token, _row(row)))
        return claims

    def _mine(self, provider: str, claim: Claim) -> Any:
        p = provider_invoices.c
        return and_(
            p.tenant_id == claim.tenant_id,
            p.provider == provider,
            p.invoice_id == claim.invoice_id,
            p.claim_token == claim.token,
        )

    def restart(self, provider: str, claim: Claim, now: datetime) -> int:
        p = provider_invoices.c
        stmt = (
            update(provider_invoices)
            .where(self._mine(provider, claim))
            .values(remote_id=None, generation=p.generation + 1, updated_at=now)
            .returning(p.generation)
        )
        with self._begin() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return claim.row.generation + 1 if value is None else int(value)

    def finish(
        self,
        provider: str,
        claim: Claim,
        *,
        status: SyncStatus,
        now: datetime,
        remote_id: str | None = None,
        remote_status: str | None = None,
        local_status: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            "status": status.value,
            "error": None if error is None else error[:2000],
            "next_attempt_at": next_attempt_at or now,
            "claim_token": None,
            "claimed_until": None,
            "updated_at": now,
        }
        if remote_id is not None:
            values["remote_id"] = remote_id
        if remote_status is not None:
            values["remote_status"] = remote_status
        if local_status is not None:
            values["local_status"] = local_status
        stmt = update(provider_invoices).where(self._mine(provider, claim)).values(**values)
        with self._begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    # -- reads -------------------------------------------------------------------------

    def get(self, provider: str, tenant_id: str, invoice_id: str) -> SyncRow | None:
        return self.rows(provider, tenant_id, [invoice_id]).get(invoice_id)

    def rows(self, provider: str, tenant_id: str, invoice_ids: Sequence[str]) -> dict[str, SyncRow]:
        p = provider_invoices.c
        found: dict[str, SyncRow] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(invoice_ids), 500):
                chunk = list(invoice_ids[start : start + 500])
                stmt = select(provider_invoices).where(
                    p.tenant_id == tenant_id, p.provider == provider, p.invoice_id.in_(chunk)
                )
                found.update({row.invoice_id: _row(row) for row in conn.execute(stmt)})
        return found

    def remote_ids(self, provider: str, tenant_id: str) -> dict[str, str]:
        p = provider_invoices.c
        stmt = select(p.invoice_id, p.remote_id).where(
            p.tenant_id == tenant_id, p.provider == provider, p.remote_id.is_not(None)
        )
        with self._engine.connect() as conn:
            return {row.invoice_id: row.remote_id for row in conn.execute(stmt)}

    # -- customers and events ------------------------------------------------------------

    def customer_remote(self, provider: str, tenant_id: str, customer_id: str) -> str | None:
        c = provider_customers.c
        stmt = select(c.remote_id).where(
            c.tenant_id == tenant_id, c.provider == provider, c.customer_id == customer_id
        )
        with self._engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return None if value is None else str(value)

    def claim_customer(
        self, provider: str, tenant_id: str, customer_id: str, now: datetime, until: datetime
    ) -> str | None:
        c = provider_customer_claims.c
        token = os.urandom(16).hex()
        stmt = (
            self._insert(provider_customer_claims)
            .values(
                tenant_id=tenant_id,
                provider=provider,
                customer_id=customer_id,
                claim_token=token,
                claimed_until=until,
            )
            .on_conflict_do_update(
                index_elements=["tenant_id", "provider", "customer_id"],
                set_={"claim_token": token, "claimed_until": until},
                where=or_(c.claimed_until.is_(None), c.claimed_until <= now),
            )
            .returning(c.claim_token)
        )
        with self._begin() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else str(row[0])

    def release_customer(self, provider: str, tenant_id: str, customer_id: str, token: str) -> None:
        with self._begin() as conn:
            conn.execute(self._release(provider, tenant_id, customer_id, token))

    def _release(self, provider: str, tenant_id: str, customer_id: str, token: str) -> Any:
        c = provider_customer_claims.c
        return (
            update(provider_customer_claims)
            .where(
                c.tenant_id == tenant_id,
                c.provider == provider,
                c.customer_id == customer_id,
                c.claim_token == token,
            )
            .values(claim_token=None, claimed_until=None)
        )

    def save_customer(
        self,
        provider: str,
        tenant_id: str,
        customer_id: str,
        remote_id: str,
        now: datetime,
        claim_token: str | None = None,
    ) -> str:
        stmt = (
            self._insert(provider_customers)
            .values(
                tenant_id=tenant_id,
                provider=provider,
                customer_id=customer_id,
                remote_id=remote_id,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        with self._begin() as conn:
            conn.execute(stmt)
            if claim_token is not None:
                conn.execute(self._release(provider, tenant_id, customer_id, claim_token))
        stored = self.customer_remote(provider, tenant_id, customer_id)
        return stored or remote_id

    def seen_event(self, provider: str, event_id: str) -> bool:
        e = provider_events.c
        stmt = select(e.event_id).where(e.provider == provider, e.event_id == event_id)
        with self._engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def record_event(
        self, provider: str, event: ProviderEvent, now: datetime, outcome: str
    ) -> bool:
        stmt = (
            self._insert(provider_events)
            .values(
                provider=provider,
                event_id=event.id,
                tenant_id=event.tenant,
                type=event.type[:128],
                outcome=outcome[:64],
                received_at=now,
            )
            .on_conflict_do_nothing()
        )
        with self._begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)
