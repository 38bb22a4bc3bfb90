"""The thin payloads of the facts Tallybook reports (ids and the values a receiver
needs, never whole documents): one builder per fact, each returning an ``OutboxMessage``.

Receivers fetch the full object (``GET /v1/invoices/{id}``, ``GET /v1/subscriptions/{id}``)
when they need more; docs/webhooks.md shows an example body of each type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tallybook.domain.alerts import Fired, threshold_text
from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.billing.numbering import format_number, invoice_prefix
from tallybook.domain.subscriptions.model import Subscription
from tallybook.domain.webhooks import OutboxMessage, amount, instant

INVOICE_TYPES = {
    InvoiceStatus.FINALIZED: "invoice.finalized",
    InvoiceStatus.PAID: "invoice.paid",
    InvoiceStatus.VOID: "invoice.voided",
}


def invoice_message(
    *,
    invoice_id: str,
    number: int | None,
    status: InvoiceStatus,
    customer: str,
    currency: str,
    period_start: datetime,
    period_end: datetime,
    subtotal: Decimal,
    total: Decimal,
    at: datetime,
    prefix: str | None = None,
) -> OutboxMessage:
    """``invoice.finalized`` / ``invoice.paid`` / ``invoice.voided`` (by ``status``);
    ``at`` is when the status changed. Amounts are decimal strings."""
    data = {
        "invoice": invoice_id,
        "number": None if number is None else format_number(number, prefix),
        "status": status.value,
        "customer": customer,
        "currency": currency,
        "period_start": instant(period_start),
        "period_end": instant(period_end),
        "subtotal": amount(subtotal),
        "total": amount(total),
    }
    return OutboxMessage(INVOICE_TYPES[status], at, data, customer)


def invoice_status_message(invoice: Invoice, at: datetime) -> OutboxMessage:
    """The message for a stored invoice's new status (paid or void)."""
    return invoice_message(
        invoice_id=invoice.id,
        number=invoice.number,
        status=invoice.status,
        customer=invoice.customer,
        currency=invoice.currency,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        subtotal=invoice.totals.subtotal,
        total=invoice.totals.total,
        at=at,
        prefix=invoice_prefix(invoice.parties),
    )


def subscription_message(
    event_type: str, sub: Subscription, account: str, at: datetime
) -> OutboxMessage:
    """``subscription.created`` / ``.changed`` / ``.canceled``: the subscription's plan,
    quantities now and schedule edges; ``account`` is the bill-to customer."""
    current = sub.quantities[-1].quantities if sub.quantities else {}
    data: dict[str, Any] = {
        "subscription": sub.id,
        "customer": sub.customer,
        "account": account,
        "plan": sub.plan.key,
        "plan_version": sub.plan.version,
        "currency": sub.currency,
        "quantities": _decimals(current),
        "start": instant(sub.start),
        "end": instant(sub.end),
        "trial_end": instant(sub.trial_end),
        "cancel_mode": None if sub.cancel_mode is None else sub.cancel_mode.value,
        "canceled_at": instant(sub.canceled_at),
    }
    return OutboxMessage(event_type, at, data, sub.customer)


def _decimals(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {key: f"{value:f}" for key, value in sorted(values.items())}


def alert_message(fired: Fired) -> OutboxMessage:
    """``alert.triggered``: one threshold of one alert crossed by a customer in a period
    (``value``: the measured value; ``limit``: the allowance of usage alerts, else the
    threshold). Amounts and quantities are decimal strings."""
    data = {
        "alert": fired.alert,
        "fired_alert": fired.id,
        "type": fired.type.value,
        "customer": fired.customer,
        "charge": fired.charge,
        "threshold": threshold_text(fired.threshold),
        "value": amount(fired.value),
        "limit": amount(fired.limit),
        "period_start": instant(fired.period_start),
        "period_end": instant(fired.period_end),
    }
    return OutboxMessage("alert.triggered", fired.fired_at, data, fired.customer)


def change_approved_message(
    *,
    change_id: str,
    kind: str,
    versions: Mapping[str, Any],
    effective_at: datetime,
    timing: str,
    existing: str,
    author: str,
    approved_by: str,
    at: datetime,
) -> OutboxMessage:
    """``catalog.change_approved``: the change, the plan versions it published
    (``{"growth": {"from": 1, "to": 2, "migrated": 10, "skipped": 0}}``) and when they
    take effect. Not tied to a customer (``sequence`` is the tenant's)."""
    data = {
        "change": change_id,
        "kind": kind,
        "plans": {key: dict(value) for key, value in sorted(versions.items())},
        "effective_at": instant(effective_at),
        "timing": timing,
        "existing": existing,
        "author": author,
        "approved_by": approved_by,
    }
    return OutboxMessage("catalog.change_approved", at, data, None)
