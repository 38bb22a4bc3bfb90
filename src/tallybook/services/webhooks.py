"""Webhook endpoints and messages: the use cases behind ``/v1/webhook-endpoints`` and
``/v1/webhook-messages``.

An endpoint's secret is returned by ``create`` and ``rotate_secret`` only; it is stored
(HMAC needs it) but never listed, logged or shown again. A create may carry the client's
own ``id``: repeating it with the same body returns the same endpoint (without the secret:
rotate it if the first answer was lost), a different body is ``409 conflict`` (CONTRACT.md
Part 2 conventions).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.ids import new_id_at as new_id
from tallybook.domain.webhooks import (
    EVENT_TYPES,
    MAX_DESCRIPTION,
    ROTATION_OVERLAP,
    Endpoint,
    EndpointStatus,
    Message,
    MessageStatus,
    check_filters,
    check_url,
    generate_secret,
)
from tallybook.services.ports import Clock, WebhookStore

MAX_PAGE = 1000
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")


@dataclass(frozen=True, slots=True)
class Created:
    """A created endpoint; ``secret`` is None on an idempotent repeat."""

    endpoint: Endpoint
    secret: str | None
    created: bool


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    data: list[T]
    next_cursor: str | None


class WebhookService:
    """``own_addresses``: (host, port) pairs this server listens on; receiver URLs that
    reach them are refused (set by the composition root and by ``tallybook serve``)."""

    def __init__(
        self, store: WebhookStore, clock: Clock, own_addresses: Sequence[tuple[str, int]] = ()
    ):
        self._store = store
        self._clock = clock
        self.own_addresses = list(own_addresses)

    # -- endpoints --------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        url: str,
        events: Sequence[str],
        description: str | None = None,
        endpoint_id: str | None = None,
    ) -> Created:
        check_url(url, self.own_addresses)
        filters = check_filters(events)
        _check_description(description)
        digest = _request_hash(url, filters, description)
        if endpoint_id is not None:
            _check_id(endpoint_id)
            found = self._store.get_endpoint(tenant_id, endpoint_id)
            if found is not None:
                return self._repeat(found, digest)
        now = self._clock.now()
        endpoint = Endpoint(
            id=endpoint_id or new_id("we", now),
            url=url,
            events=filters,
            description=description,
            status=EndpointStatus.ENABLED,
            created_at=now,
            updated_at=now,
        )
        secret = generate_secret()
        try:
            self._store.insert_endpoint(tenant_id, endpoint, secret, digest)
        except Conflict:  # a concurrent create with the same id won
            found = self._store.get_endpoint(tenant_id, endpoint.id)
            if found is None:
                raise
            return self._repeat(found, digest)
        return Created(endpoint, secret, True)

    def _repeat(self, found: tuple[Endpoint, str], digest: str) -> Created:
        endpoint, stored_digest = found
        if stored_digest != digest:
            raise Conflict(
                f"webhook endpoint {endpoint.id!r} exists with a different body",
                code="conflict",
                details={"endpoint": endpoint.id},
            )
        return Created(endpoint, None, False)

    def get(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        found = self._store.get_endpoint(tenant_id, endpoint_id)
        if found is None:
            raise NotFound(
                f"no webhook endpoint {endpoint_id!r}",
                code="webhook_endpoint_not_found",
                details={"endpoint": endpoint_id},
            )
        return found[0]

    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Endpoint]:
        after = decode_cursor(cursor)
        found = self._store.page_endpoints(tenant_id, limit=limit + 1, after=after)
        return _page(found, limit, lambda e: e.id)

    def update(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Endpoint:
        endpoint = self.get(tenant_id, endpoint_id)
        values: dict[str, object] = {"updated_at": self._clock.now()}
        if url is not None:
            values["url"] = check_url(url, self.own_addresses)
        if events is not None:
            values["events"] = list(check_filters(events))
        if description is not None:
            _check_description(description)
            values["description"] = description
        self._store.update_endpoint(tenant_id, endpoint.id, **values)
        return self.get(tenant_id, endpoint_id)

    def set_enabled(self, tenant_id: str, endpoint_id: str, enabled: bool) -> Endpoint:
        """Enable (its pending messages resume) or disable (they wait) an endpoint."""
        endpoint = self.get(tenant_id, endpoint_id)
        status = EndpointStatus.ENABLED if enabled else EndpointStatus.DISABLED
        self._store.update_endpoint(
            tenant_id,
            endpoint.id,
            status=status.value,
            disabled_reason=None if enabled else "disabled by request",
            updated_at=self._clock.now(),
        )
        return self.get(tenant_id, endpoint_id)

    def rotate_secret(self, tenant_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new secret; the old one keeps signing (both are sent) for 24 hours."""
        endpoint = self.get(tenant_id, endpoint_id)
        now = self._clock.now()
        secret = generate_secret()
        self._store.rotate_secret(tenant_id, endpoint.id, secret, now, now + ROTATION_OVERLAP)
        return self.get(tenant_id, endpoint_id), secret

    def delete(self, tenant_id: str, endpoint_id: str) -> None:
        """Delete the endpoint; its pending messages end as ``failed``."""
        if not self._store.delete_endpoint(tenant_id, endpoint_id, self._clock.now()):
            self.get(tenant_id, endpoint_id)  # raises NotFound

    # -- messages ---------------------------------------------------------------------

    def messages(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None,
        type: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
    ) -> Page[Message]:
        """Newest first, filtered by ``type``, ``status`` and ``endpoint``."""
        if type is not None and type not in EVENT_TYPES:
            raise ValidationError(
                f"unknown event type {type!r}",
                code="unknown_event_type",
                details={"known": sorted(EVENT_TYPES)},
            )
        state = _status(status)
        before = decode_cursor(cursor)
        found = self._store.page_messages(
            tenant_id, limit=limit + 1, before=before, type=type, status=state, endpoint=endpoint
        )
        return _page(found, limit, lambda m: m.id)

    def message(self, tenant_id: str, message_id: str) -> Message:
        found = self._store.get_message(tenant_id, message_id)
        if found is None:
            raise NotFound(
                f"no webhook message {message_id!r}",
                code="webhook_message_not_found",
                details={"message": message_id},
            )
        return found

    def retry(self, tenant_id: str, message_id: str) -> Message:
        """Send the message again now, with a fresh retry schedule (same ``webhook-id``)."""
        message = self.message(tenant_id, message_id)
        endpoint = self._store.get_endpoint(tenant_id, message.endpoint_id)
        if endpoint is None:
            raise Conflict("the message's endpoint was deleted", code="endpoint_deleted")
        if endpoint[0].status is EndpointStatus.DISABLED:
            raise Conflict(
                "the message's endpoint is disabled; enable it first",
                code="endpoint_disabled",
                details={"endpoint": message.endpoint_id},
            )
        if not self._store.retry_message(tenant_id, message_id, self._clock.now()):
            raise Conflict(
                "an attempt of this message is in flight; retry when it ends",
                code="attempt_in_flight",
            )
        return self.message(tenant_id, message_id)


# -- helpers ------------------------------------------------------------------------------


def encode_cursor(last_id: str) -> str:
    """Opaque to clients: base64 of the last id of the page."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        if len(cursor) > 400:
            raise ValueError("too long")
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not _ID.match(value):
            raise ValueError("not an id")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor is not one this API returned", code="invalid_cursor"
        ) from None
    return value


def _page(found: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """``found`` holds up to ``limit + 1`` rows: the extra one says there is a next page."""
    data = found[:limit]
    cursor = encode_cursor(key(data[-1])) if len(found) > limit and data else None
    return Page(data, cursor)


def _status(status: str | None) -> MessageStatus | None:
    if status is None:
        return None
    try:
        return MessageStatus(status)
    except ValueError:
        raise ValidationError(
            f"status must be one of {', '.join(s.value for s in MessageStatus)}",
            code="invalid_status",
        ) from None


def _check_id(endpoint_id: str) -> None:
    if not _ID.match(endpoint_id):
        raise ValidationError("id must be 1-255 letters, digits or _ . : -", code="invalid_id")


def _check_description(description: str | None) -> None:
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):
        raise ValidationError(
            f"description must be at most {MAX_DESCRIPTION} characters (no NUL)",
            code="invalid_description",
        )


def _request_hash(url: str, events: Sequence[str], description: str | None) -> str:
    canonical = json.dumps(
        {"url": url, "events": list(events), "description": description}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
