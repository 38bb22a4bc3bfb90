"""Invoice e-mails: deliveries made from the outbox, sent over SMTP, retried, listed.

A delivery is written in the transaction that finalizes the invoice when the tenant has
``email_invoices`` on (``adapters/store/email_deliveries.py``: an outbox of its own).
``InvoiceEmails.run_once`` is the scheduled job (``container.scheduled_jobs``, every
``scheduler_interval_seconds``): it claims the due deliveries,
composes each (``ports.MailComposer``: recipients, the PDF, the portal link), sends it
(``ports.MailTransport``) and records the outcome with the retry schedule of
``domain.finance.delivery``. A delivery is never lost: it stays pending until sent, or
ends ``failed`` with its last error (``GET /v1/email-deliveries?status=failed``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tallybook.domain.errors import ValidationError
from tallybook.domain.finance.delivery import (
    Attempt,
    Delivery,
    DeliveryStatus,
    PermanentFailure,
    after_attempt,
    error_text,
)
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import Clock, EmailQueue, MailComposer, MailTransport

log = logging.getLogger("tallybook.email")
LEASE = timedelta(minutes=5)  # an attempt (render + SMTP) that takes longer is retried
BATCH = 50


class InvoiceEmails:
    def __init__(
        self,
        queue: EmailQueue,
        composer: MailComposer,
        transport: MailTransport | None,
        clock: Clock,
    ):
        self._queue = queue
        self._composer = composer
        self._transport = transport  # None: TALLYBOOK_SMTP_URL not set, nothing is sent
        self._clock = clock

    def run_once(self) -> int:
        """Attempt every due delivery (in batches); returns how many were attempted.
        Without an SMTP transport deliveries wait (pending)."""
        if self._transport is None:
            return 0
        now = self._clock.now()
        done = 0
        while True:
            claimed = self._queue.claim(now, LEASE, BATCH)
            if not claimed:
                return done
            for delivery, token in claimed:
                self._attempt(delivery, token)
                done += 1

    def _attempt(self, delivery: Delivery, token: str) -> None:
        assert self._transport is not None
        recipients: tuple[str, ...] = ()
        try:
            mail = self._composer.compose(
                delivery.tenant_id, delivery.invoice, delivery.credit_note
            )
            recipients = mail.recipients
            attempt = Attempt(True, recipients, self._transport.send(mail))
        except PermanentFailure as error:
            attempt = Attempt(False, recipients, error=error_text(error), final=True)
        except Exception as error:  # SMTP down, refused, timed out: retried
            attempt = Attempt(False, recipients, error=error_text(error))
        now = self._clock.now()
        status, next_at = after_attempt(delivery.attempts, attempt, now)
        self._queue.record(
            delivery,
            token,
            status=status,
            next_attempt_at=next_at,
            recipients=attempt.recipients,
            message_id=attempt.message_id,
            error=attempt.error,
            now=now,
        )
        log.log(
            logging.INFO if attempt.sent else logging.WARNING,
            "invoice e-mail %s",
            status.value,
            extra={
                "tenant": delivery.tenant_id,
                "invoice": delivery.invoice,
                "credit_note": delivery.credit_note,
                "attempt": delivery.attempts,
                "error": attempt.error,
            },
        )

    def list(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        invoice: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        """A page of the tenant's deliveries by id (time order). ValidationError
        ``invalid_status``, ``invalid_limit``, ``invalid_cursor``."""
        chosen = None
        if status is not None:
            try:
                chosen = DeliveryStatus(status)
            except ValueError:
                raise ValidationError(
                    "status must be pending, sent or failed", code="invalid_status"
                ) from None
        after = decode_cursor(cursor, (str,))
        rows = self._queue.page(
            tenant_id,
            status=chosen,
            invoice=invoice,
            limit=check_limit(limit) + 1,
            after=None if after is None else str(after[0]),
        )
        return page_of(rows, limit, lambda d: [d.id])
