"""Webhook ports (issue 8): endpoints and their outbox messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from tallybook.domain.webhooks import Endpoint, Message, MessageStatus


class WebhookStore(Protocol):
    """Webhook endpoints and their messages (``adapters.store.webhooks``)."""

    def insert_endpoint(
        self, tenant_id: str, endpoint: Endpoint, secret: str, request_hash: str
    ) -> None: ...

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> tuple[Endpoint, str] | None: ...

    def page_endpoints(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[Endpoint]: ...

    def update_endpoint(self, tenant_id: str, endpoint_id: str, **values: Any) -> bool: ...

    def rotate_secret(
        self, tenant_id: str, endpoint_id: str, new_secret: str, now: datetime, until: datetime
    ) -> bool: ...

    def delete_endpoint(self, tenant_id: str, endpoint_id: str, now: datetime) -> bool: ...

    def page_messages(
        self,
        tenant_id: str,
        *,
        limit: int,
        before: str | None,
        type: str | None,
        status: MessageStatus | None,
        endpoint: str | None,
    ) -> list[Message]: ...

    def get_message(self, tenant_id: str, message_id: str) -> Message | None: ...

    def retry_message(self, tenant_id: str, message_id: str, now: datetime) -> bool: ...

    def count_messages(self, tenant_id: str, endpoint_id: str) -> dict[str, int]: ...
