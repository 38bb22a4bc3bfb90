"""Webhook endpoints and messages: the rows behind ``/v1/webhook-endpoints`` and
``/v1/webhook-messages``. Secrets are read only by the delivery queue and by
``create``/``rotate`` (which return them once); every other read leaves them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.schema_webhooks import (
    outbox,
    webhook_attempts,
    webhook_endpoints,
    webhook_messages,
)
from tallybook.domain.errors import Conflict
from tallybook.domain.webhooks import Attempt, Endpoint, EndpointStatus, Message, MessageStatus


class WebhookStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    # -- endpoints --------------------------------------------------------------------

    def insert_endpoint(
        self, tenant_id: str, endpoint: Endpoint, secret: str, request_hash: str
    ) -> None:
        """Insert; ``Conflict`` (``endpoint_exists``) when the id is taken."""
        row = {
            "tenant_id": tenant_id,
            "id": endpoint.id,
            "url": endpoint.url,
            "description": endpoint.description,
            "events": list(endpoint.events),
            "status": endpoint.status.value,
            "disabled_reason": None,
            "secret": secret,
            "previous_secret": None,
            "previous_secret_until": None,
            "secret_rotated_at": None,
            "request_hash": request_hash,
            "created_at": endpoint.created_at,
            "updated_at": endpoint.updated_at,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(webhook_endpoints).values(**row))
        except IntegrityError:
            raise Conflict(
                f"webhook endpoint {endpoint.id!r} exists",
                code="endpoint_exists",
                details={"endpoint": endpoint.id},
            ) from None

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> tuple[Endpoint, str] | None:
        """The endpoint and the hash of the request that created it."""
        stmt = select(webhook_endpoints).where(
            webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.id == endpoint_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (_endpoint(row), row.request_hash)

    def page_endpoints(self, tenant_id: str, *, limit: int, after: str | None) -> list[Endpoint]:
        stmt = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(webhook_endpoints.c.id > after)
        stmt = stmt.order_by(webhook_endpoints.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [_endpoint(row) for row in conn.execute(stmt)]

    def update_endpoint(self, tenant_id: str, endpoint_id: str, **values: Any) -> bool:
        stmt = (
            update(webhook_endpoints)
            .where(
                webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.id == endpoint_id
            )
            .values(**values)
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def rotate_secret(
        self, tenant_id: str, endpoint_id: str, new_secret: str, now: datetime, until: datetime
    ) -> bool:
        """The current secret becomes the previous one (valid until ``until``)."""
        e = webhook_endpoints
        stmt = (
            update(e)
            .where(e.c.tenant_id == tenant_id, e.c.id == endpoint_id)
            .values(
                previous_secret=e.c.secret,
                previous_secret_until=until,
                secret=new_secret,
                secret_rotated_at=now,
                updated_at=now,
            )
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def delete_endpoint(self, tenant_id: str, endpoint_id: str, now: datetime) -> bool:
        """Delete the endpoint; its pending messages end as ``failed``."""
        m = webhook_messages
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(webhook_endpoints).where(
                    webhook_endpoints.c.tenant_id == tenant_id,
                    webhook_endpoints.c.id == endpoint_id,
                )
            ).rowcount
            conn.execute(
                update(m)
                .where(
                    m.c.tenant_id == tenant_id,
                    m.c.endpoint_id == endpoint_id,
                    m.c.status == MessageStatus.PENDING.value,
                )
                .values(
                    status=MessageStatus.FAILED.value,
                    next_attempt_at=None,
                    claim_token=None,
                    last_error="endpoint deleted",
                    updated_at=now,
                )
            )
        return bool(gone)

    # -- messages ---------------------------------------------------------------------

    def page_messages(
        self,
        tenant_id: str,
        *,
        limit: int,
        before: str | None,
        type: str | None,
        status: MessageStatus | None,
        endpoint: str | None,
    ) -> list[Message]:
        """Newest first (ids are time-ordered); ``before`` is the last id of the previous page."""
        stmt = _message_select().where(webhook_messages.c.tenant_id == tenant_id)
        if before is not None:
            stmt = stmt.where(webhook_messages.c.id < before)
        if type is not None:
            stmt = stmt.where(webhook_messages.c.type == type)
        if status is not None:
            stmt = stmt.where(webhook_messages.c.status == status.value)
        if endpoint is not None:
            stmt = stmt.where(webhook_messages.c.endpoint_id == endpoint)
        stmt = stmt.order_by(webhook_messages.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_message(row) for row in conn.execute(stmt)]

    def get_message(self, tenant_id: str, message_id: str) -> Message | None:
        stmt = _message_select().where(
            webhook_messages.c.tenant_id == tenant_id, webhook_messages.c.id == message_id
        )
        attempts = (
            select(webhook_attempts)
            .where(
                webhook_attempts.c.tenant_id == tenant_id,
                webhook_attempts.c.message_id == message_id,
            )
            .order_by(webhook_attempts.c.attempt)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            log = tuple(
                Attempt(a.attempt, a.started_at, a.duration_ms, a.status_code, a.error)
                for a in conn.execute(attempts)
            )
        found = _message(row)
        return Message(**{**_fields(found), "attempt_log": log})

    def retry_message(self, tenant_id: str, message_id: str, now: datetime) -> bool:
        """Make the message due now with a fresh retry schedule (unless an attempt is in
        flight: ``Conflict``)."""
        m = webhook_messages
        stmt = (
            update(m)
            .where(m.c.tenant_id == tenant_id, m.c.id == message_id, m.c.claim_token.is_(None))
            .values(
                status=MessageStatus.PENDING.value,
                failures=0,
                next_attempt_at=now,
                updated_at=now,
            )
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def count_messages(self, tenant_id: str, endpoint_id: str) -> dict[str, int]:
        from sqlalchemy import func

        m = webhook_messages
        stmt = (
            select(m.c.status, func.count())
            .where(m.c.tenant_id == tenant_id, m.c.endpoint_id == endpoint_id)
            .group_by(m.c.status)
        )
        with self._engine.connect() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(stmt)}


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        description=row.description,
        status=EndpointStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_reason=row.disabled_reason,
        secret_rotated_at=row.secret_rotated_at,
    )


def _message_select() -> Any:
    m, o = webhook_messages, outbox
    return select(
        m.c.id,
        m.c.event_id,
        m.c.endpoint_id,
        m.c.type,
        m.c.status,
        m.c.attempts,
        m.c.next_attempt_at,
        m.c.last_status_code,
        m.c.last_error,
        m.c.created_at,
        m.c.updated_at,
        m.c.delivered_at,
        o.c.occurred_at,
        o.c.sequence,
        o.c.data,
    ).join(o, o.c.id == m.c.event_id)


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        event_id=row.event_id,
        endpoint_id=row.endpoint_id,
        type=row.type,
        status=MessageStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        occurred_at=row.occurred_at,
        sequence=row.sequence,
        data=row.data,
    )


def _fields(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in Message.__slots__}
