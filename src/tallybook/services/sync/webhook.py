"""Provider webhooks: ``POST /v1/providers/stripe/webhook``.

The signature is checked by the adapter (the SDK's ``Webhook.construct_event``); an event
already handled (by id) is acknowledged and ignored. ``invoice.paid`` re-fetches the
invoice from the provider (events arrive in any order and may be stale) and, when the
provider says ``paid``, its metadata names a final invoice of a tenant, the stored remote
id (if any) is this invoice and the totals agree, marks the local invoice paid (the same
status change and ``invoice.paid`` outbox message as ``POST /v1/invoices/{id}/pay``).
A disagreement changes nothing: reconciliation reports it.

The event id is recorded after the effect: a crash in between makes the provider send
the event again, and marking paid twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tallybook.domain.billing.invoice import InvoiceStatus
from tallybook.domain.errors import Conflict, ProviderUnavailable
from tallybook.domain.notifications import invoice_status_message
from tallybook.services.ports import (
    Clock,
    InvoiceStore,
    PaymentProvider,
    ProviderError,
    RemoteInvoice,
    SyncStore,
)

HANDLED = frozenset({"invoice.paid"})


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """``event``: the provider's event id; ``duplicate``: already handled before;
    ``outcome``: what was done (``marked_paid``, ``already_paid``, ``ignored``, ...);
    ``tenant`` and ``invoice``: the local invoice the event was about, when one was found
    (the API's audit hook records a ``marked_paid`` against it)."""

    event: str
    type: str
    duplicate: bool
    outcome: str
    tenant: str | None = None
    invoice: str | None = None


class ProviderWebhooks:
    def __init__(
        self,
        provider: PaymentProvider,
        store: SyncStore,
        invoices: InvoiceStore,
        clock: Clock,
        *,
        after_status: Callable[[str, str], object] | None = None,
    ):
        """``after_status(tenant, customer)`` runs after an invoice is marked paid, as
        after ``InvoiceService.pay`` (the credit top-up check)."""
        self._provider = provider
        self._store = store
        self._invoices = invoices
        self._clock = clock
        self._after_status = after_status

    def handle(self, body: bytes, signature: str | None) -> WebhookOutcome:
        """Verify, deduplicate and apply one event. Raises ``ports.SignatureInvalid`` (the
        route answers 400) and ``ProviderUnavailable`` when the re-fetch fails (503: the
        provider retries the event)."""
        event = self._provider.parse_event(body, signature)
        name = self._provider.name
        if self._store.seen_event(name, event.id):
            return WebhookOutcome(event.id, event.type, True, "duplicate")
        outcome = "ignored"
        tenant: str | None = None
        invoice: str | None = None
        if event.type in HANDLED and event.object_id:
            try:
                remote = self._provider.get_invoice(event.object_id)
            except ProviderError as exc:
                if exc.code == "not_found":
                    remote = None
                else:
                    raise ProviderUnavailable(
                        f"could not re-fetch {event.object_id}: {exc.message}"
                    ) from None
            outcome = "remote_not_found" if remote is None else self.mark_paid(remote)
            if remote is not None:
                tenant, invoice = remote.tenant, remote.invoice
        fresh = self._store.record_event(name, event, self._clock.now(), outcome)
        return WebhookOutcome(event.id, event.type, not fresh, outcome, tenant, invoice)

    def mark_paid(self, remote: RemoteInvoice) -> str:
        """Mark the local invoice ``remote`` stands for paid, if the provider says it is
        and everything agrees; returns what happened (a machine word)."""
        if remote.status != "paid":
            return f"remote_{remote.status}"
        if remote.tenant is None or remote.invoice is None:
            return "not_tallybook"
        invoice = self._invoices.get(remote.tenant, remote.invoice)
        if invoice is None:
            return "unknown_invoice"
        row = self._store.get(self._provider.name, remote.tenant, invoice.id)
        if row is not None and row.remote_id is not None and row.remote_id != remote.id:
            return "other_remote_invoice"
        if invoice.status is InvoiceStatus.PAID:
            return "already_paid"
        if invoice.status is not InvoiceStatus.FINALIZED:
            return f"local_{invoice.status.value}"
        if remote.currency != invoice.currency or remote.total != invoice.totals.total:
            return "amount_mismatch"
        now = self._clock.now()
        paid = invoice.paid(now)
        try:
            self._invoices.save_status(
                remote.tenant,
                paid,
                InvoiceStatus.FINALIZED,
                [invoice_status_message(paid, now)],
            )
        except Conflict:
            return "changed_meanwhile"
        if self._after_status is not None:
            self._after_status(remote.tenant, invoice.customer)
        return "marked_paid"
