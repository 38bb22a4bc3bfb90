"""Invoice and credit-note e-mails: statuses and the retry schedule (pure).

A finalized invoice of a tenant that e-mails invoices gets one delivery, and so does each
credit note issued on one (``credit_note`` set), written in the transaction that
finalizes the invoice or stores the note. Each attempt either sends (``sent``) or fails; a
failure is retried after ``RETRY_AFTER[attempt - 1]`` (1 min, 5 min, 30 min, 2 h, 6 h,
12 h, 24 h: about two days in all) and then the delivery is ``failed`` for good, with
its last error, visible in ``GET /v1/email-deliveries?status=failed``. A delivery that
cannot succeed by retrying (no recipient, no sender) fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

RETRY_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ERROR = 500


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One invoice e-mail and how its attempts went."""

    tenant_id: str
    id: str
    invoice: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    recipients: tuple[str, ...]
    message_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    credit_note: str | None = None  # a credit note's e-mail (of ``invoice``)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: sent (with its Message-ID) or an error; ``final`` errors
    are not retried."""

    sent: bool
    recipients: tuple[str, ...] = ()
    message_id: str | None = None
    error: str | None = None
    final: bool = False


def after_attempt(
    attempts: int, attempt: Attempt, now: datetime
) -> tuple[DeliveryStatus, datetime | None]:
    """The status and next attempt time after the ``attempts``-th attempt."""
    if attempt.sent:
        return DeliveryStatus.SENT, None
    if attempt.final or attempts > len(RETRY_AFTER):
        return DeliveryStatus.FAILED, None
    return DeliveryStatus.PENDING, now + RETRY_AFTER[attempts - 1]


class PermanentFailure(Exception):
    """A delivery that retrying cannot fix (no recipients, no sender address)."""


def error_text(error: BaseException) -> str:
    """An error as stored: its class and message, bounded."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class Mail:
    """An e-mail to send: plain text, attachments, and extra headers."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
