"""Webhook rules, pure: event types, endpoint filters, secrets, URLs, the retry schedule
and the thin payloads each fact produces.

Borrowed rules:

- Message shape and signature: Standard Webhooks v1 (https://www.standardwebhooks.com):
  headers ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``; a secret is
  ``whsec_`` + base64 of its key bytes (>= 24 random bytes here). Signing itself is done by
  the ``standardwebhooks`` package at the delivery adapter.
- Retry schedule: CONTRACT.md Part 2 "Webhooks and notifications" (the Svix schedule):
  +5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h after each failed attempt, then
  ``failed``. A ``Retry-After`` answer (RFC 9110 section 10.2.3: seconds or an HTTP date)
  replaces that step's delay, bounded to ``MAX_RETRY_AFTER``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from tallybook.domain.errors import ValidationError

# Types a receiver may subscribe to (CONTRACT.md Part 2). The Part-2 capabilities that do
# not exist yet (alerts, credits, approvals, reconciliation) will emit theirs here.
EVENT_TYPES = frozenset(
    {
        "alert.triggered",
        "spend_limit.reached",
        "invoice.finalized",
        "invoice.paid",
        "invoice.voided",
        "credits.granted",
        "credits.low",
        "credits.expired",
        "subscription.created",
        "subscription.changed",
        "subscription.canceled",
        "catalog.change_approved",
        "reconciliation.drift",
    }
)
ALL_EVENTS = "*"
MAX_FILTERS = 50
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION = 500
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # >= 24 (the brief); 32 = the HMAC-SHA256 block's natural key size
ROTATION_OVERLAP = timedelta(hours=24)
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1  # the first attempt and nine retries
MAX_RETRY_AFTER = timedelta(hours=24)


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class MessageStatus(StrEnum):
    """A message is one notification to one endpoint: ``pending`` until a 2xx
    (``delivered``) or until the schedule is exhausted, the endpoint disabled by a 410 or
    deleted (``failed``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A fact to report, written to the outbox in the fact's own transaction.

    ``customer`` scopes the per-customer ``sequence`` (None: tenant-wide facts);
    ``data`` is the thin JSON-ready payload (strings, numbers, lists, dicts only).
    """

    type: str
    occurred_at: datetime
    data: Mapping[str, Any]
    customer: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A receiver. ``secrets`` are the signing secrets valid now (newest first)."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    status: EndpointStatus
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    secret_rotated_at: datetime | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt a worker holds (claimed from the queue): all it needs to send it and
    record the outcome. ``secrets`` (valid signing secrets) never appear in a repr."""

    tenant_id: str
    message_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...] = field(repr=False)
    type: str
    occurred_at: datetime
    sequence: int
    data: Any
    attempt: int
    failures: int
    token: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt produced; ``next_attempt_at`` None ends the message."""

    claimed: Claimed
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    status: MessageStatus
    next_attempt_at: datetime | None
    disable_endpoint: bool = False


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt's answer: ``status_code`` None when no HTTP answer came (``error``);
    ``retry_after`` is the raw ``Retry-After`` header."""

    status_code: int | None
    retry_after: str | None
    error: str | None
    started_at: datetime
    duration_ms: int


# -- secrets, filters, URLs -------------------------------------------------------------


def generate_secret() -> str:
    """``whsec_`` + base64 of ``SECRET_BYTES`` random bytes (Standard Webhooks format)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def signing_secrets(
    current: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets to sign with at ``now``: the current one, plus the previous one for
    ``ROTATION_OVERLAP`` after a rotation (both signatures are sent)."""
    if previous is not None and previous_until is not None and now < previous_until:
        return (current, previous)
    return (current,)


def check_filters(events: Sequence[str]) -> tuple[str, ...]:
    """Validate an endpoint's event filter: ``["*"]`` or known types, no duplicates.

    Raises ``ValidationError`` (``invalid_event_filter`` / ``unknown_event_type``).
    """
    if not events or len(events) > MAX_FILTERS:
        raise ValidationError(
            f'events must list 1-{MAX_FILTERS} event types, or ["*"] for all',
            code="invalid_event_filter",
        )
    unknown = sorted({e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES})
    if unknown:
        raise ValidationError(
            f"unknown event type {unknown[0]!r}",
            code="unknown_event_type",
            details={"unknown": unknown, "known": sorted(EVENT_TYPES)},
        )
    if ALL_EVENTS in events and len(events) > 1:
        raise ValidationError(
            '"*" already selects every type; list it alone', code="invalid_event_filter"
        )
    return tuple(dict.fromkeys(events))


def matches(filters: Iterable[str], event_type: str) -> bool:
    """True when an endpoint with these filters receives ``event_type``."""
    return any(f in (ALL_EVENTS, event_type) for f in filters)


def check_url(url: str, own: Iterable[tuple[str, int]] = ()) -> str:
    """Validate a receiver URL: http(s), a host, at most ``MAX_URL_LENGTH`` characters,
    no credentials, and not the server's own address (``own``: (host, port) pairs the
    server listens on; loopback and private receivers are allowed otherwise).

    Raises ``ValidationError`` with code ``invalid_webhook_url``.
    """
    if len(url) > MAX_URL_LENGTH:
        raise _bad_url(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad_url(f"url is not valid: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise _bad_url("url must start with http:// or https://")
    host = (parts.hostname or "").lower()
    if not host or any(c.isspace() for c in url):
        raise _bad_url("url must name a host and contain no spaces")
    if parts.username is not None or parts.password is not None:
        raise _bad_url("url must not carry credentials (user:password@)")
    port = port or (443 if parts.scheme == "https" else 80)
    for own_host, own_port in own:
        if port == own_port and _same_host(host, own_host.lower()):
            raise _bad_url(
                "url points at this Tallybook server itself", details={"host": host, "port": port}
            )
    return url


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _same_host(host: str, own_host: str) -> bool:
    """Whether ``host`` reaches a server bound to ``own_host`` on this machine."""
    if host == own_host:
        return True
    local = _is_local(host)
    if own_host in ("0.0.0.0", "::", ""):
        return local  # bound to every interface: any local address reaches it
    return local and _is_local(own_host)


def _is_local(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _bad_url(message: str, details: dict[str, Any] | None = None) -> ValidationError:
    return ValidationError(message, code="invalid_webhook_url", details=details)


# -- delivery schedule ------------------------------------------------------------------


def next_attempt_delay(
    failed_attempts: int, retry_after: timedelta | None = None, scale: float = 1.0
) -> timedelta | None:
    """Delay before the next attempt after ``failed_attempts`` failures in a row (>= 1);
    None when the schedule is exhausted (the message is ``failed``).

    ``retry_after`` (from the receiver) replaces the scheduled delay, bounded to
    ``MAX_RETRY_AFTER``; ``scale`` shrinks the schedule (tests and benchmarks only).
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    if failed_attempts > len(RETRY_SCHEDULE):
        return None
    if retry_after is not None:
        return min(max(retry_after, timedelta(0)), MAX_RETRY_AFTER)
    return RETRY_SCHEDULE[failed_attempts - 1] * scale


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as a delay: delta-seconds or an HTTP date; None when absent or
    malformed (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=min(int(value), int(MAX_RETRY_AFTER.total_seconds())))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def is_success(status_code: int) -> bool:
    return 200 <= status_code < 300


def disables_endpoint(status_code: int) -> bool:
    """A ``410 Gone`` answer means the receiver is gone for good: disable the endpoint."""
    return status_code == 410


# -- bodies and payloads ------------------------------------------------------------------


def message_body(
    message_id: str, event_type: str, occurred_at: datetime, sequence: int, data: Any
) -> dict[str, Any]:
    """The JSON body of one notification: ``{"id", "type", "occurred_at", "sequence",
    "data"}`` (CONTRACT.md); ``id`` equals the ``webhook-id`` header."""
    return {
        "id": message_id,
        "type": event_type,
        "occurred_at": instant(occurred_at),
        "sequence": sequence,
        "data": data,
    }


def instant(value: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` (microseconds only when present)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def decide(
    claimed: Claimed,
    *,
    status_code: int | None,
    error: str | None,
    retry_after: timedelta | None,
    started_at: datetime,
    duration_ms: int,
    now: datetime,
    scale: float = 1.0,
) -> Outcome:
    """What an attempt's answer means: ``delivered`` on 2xx; otherwise (non-2xx, timeout,
    connection error) the next attempt per ``next_attempt_delay``, or ``failed`` when the
    schedule is over. A 410 also disables the endpoint: its messages stay pending (nothing
    is lost) and resume when it is enabled again."""

    def outcome(status: MessageStatus, at: datetime | None, gone: bool = False) -> Outcome:
        return Outcome(
            claimed, started_at, duration_ms, status_code, error, status, at, disable_endpoint=gone
        )

    if status_code is not None and is_success(status_code):
        return outcome(MessageStatus.DELIVERED, None)
    gone = status_code is not None and disables_endpoint(status_code)
    delay = next_attempt_delay(claimed.failures + 1, retry_after, scale)
    if delay is None:
        return outcome(MessageStatus.FAILED, None, gone)
    return outcome(MessageStatus.PENDING, now + delay, gone)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt of a message."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One notification of one fact to one endpoint (``id`` is the ``webhook-id``)."""

    id: str
    event_id: str
    endpoint_id: str
    type: str
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    occurred_at: datetime
    sequence: int
    data: Any
    attempt_log: tuple[Attempt, ...] = ()
