"""Invoice e-mail deliveries (``ports.EmailQueue``): an outbox of their own, written in
the transaction that finalizes the invoice, claimed with a token and a lease (as webhook
messages are), recorded after each attempt.

``email_rows`` is called by the stores that finalize invoices (the billing run's unit of
work, a paid grant's purchase invoice) on their own connection: a rollback takes the
delivery with the invoice, and a committed invoice always has its delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from tallybook.adapters.store.schema import tenants
from tallybook.adapters.store.schema_finance import email_deliveries
from tallybook.domain.finance.delivery import Delivery, DeliveryStatus
from tallybook.domain.ids import new_id_at


def email_rows(conn: Connection, tenant_id: str, invoice_ids: Sequence[str], now: datetime) -> None:
    """In the transaction that finalizes ``invoice_ids``: one pending delivery each when
    the tenant e-mails invoices (read in the same transaction, so the switch as it is at
    finalization decides)."""
    if not invoice_ids:
        return
    on = conn.execute(
        select(tenants.c.email_invoices).where(tenants.c.id == tenant_id)
    ).scalar_one_or_none()
    if not on:
        return
    rows = [
        {
            "tenant_id": tenant_id,
            "id": new_id_at("eml", now),
            "invoice_id": invoice_id,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for invoice_id in invoice_ids
    ]
    conn.execute(insert(email_deliveries), rows)


def credit_note_email_row(
    conn: Connection, tenant_id: str, invoice_id: str, note_id: str, now: datetime
) -> None:
    """In the transaction that stores credit note ``note_id`` of ``invoice_id``: one
    pending delivery when the tenant e-mails invoices (the switch as it is then decides)."""
    on = conn.execute(
        select(tenants.c.email_invoices).where(tenants.c.id == tenant_id)
    ).scalar_one_or_none()
    if not on:
        return
    row = {
        "tenant_id": tenant_id,
        "id": new_id_at("eml", now),
        "invoice_id": invoice_id,
        "credit_note_id": note_id,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(email_deliveries), [row])


def delivery_from_row(row: Any) -> Delivery:
    return Delivery(
        tenant_id=row.tenant_id,
        id=row.id,
        invoice=row.invoice_id,
        status=DeliveryStatus(row.status),
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        recipients=tuple(row.recipients or ()),
        message_id=row.message_id,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        credit_note=row.credit_note_id,
    )


class EmailDeliveryStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[tuple[Delivery, str]]:
        """Up to ``limit`` due deliveries with a claim token each; their next attempt moves
        to ``now + lease`` (a worker that dies leaves them to be retried then) and their
        attempt count grows by one."""
        d = email_deliveries
        stmt = (
            select(d)
            .where(d.c.status == DeliveryStatus.PENDING.value, d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        claimed = []
        with self._engine.begin() as conn:
            for row in conn.execute(stmt).all():
                token = secrets.token_hex(8)
                conn.execute(
                    update(d)
                    .where(d.c.tenant_id == row.tenant_id, d.c.id == row.id)
                    .values(
                        claim_token=token,
                        attempts=d.c.attempts + 1,
                        next_attempt_at=now + lease,
                        updated_at=now,
                    )
                )
                claimed.append((delivery_from_row(row), token))
        return [(_with_attempt(delivery), token) for delivery, token in claimed]

    def record(
        self,
        delivery: Delivery,
        token: str,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        recipients: Sequence[str],
        message_id: str | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        """Store an attempt's outcome if the claim is still ours; whether it was."""
        d = email_deliveries
        stmt = (
            update(d)
            .where(
                d.c.tenant_id == delivery.tenant_id, d.c.id == delivery.id, d.c.claim_token == token
            )
            .values(
                status=status.value,
                next_attempt_at=next_attempt_at,
                claim_token=None,
                recipients=list(recipients) or None,
                message_id=message_id,
                last_error=error,
                updated_at=now,
                sent_at=now if status is DeliveryStatus.SENT else None,
            )
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def page(
        self,
        tenant_id: str,
        *,
        status: DeliveryStatus | None,
        invoice: str | None,
        limit: int,
        after: str | None,
    ) -> list[Delivery]:
        d = email_deliveries
        stmt = select(d).where(d.c.tenant_id == tenant_id)
        if status is not None:
            stmt = stmt.where(d.c.status == status.value)
        if invoice is not None:
            stmt = stmt.where(d.c.invoice_id == invoice)
        if after is not None:
            stmt = stmt.where(d.c.id > after)
        stmt = stmt.order_by(d.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [delivery_from_row(row) for row in conn.execute(stmt)]


def _with_attempt(delivery: Delivery) -> Delivery:
    return replace(delivery, attempts=delivery.attempts + 1)
