"""What the customer portal page shows, read through the services and formatted here.

Templates only lay these values out (``templates/account.html``). Fired alerts: no alert
rules exist on this server yet, so the section says so (``alerts`` is None); the spend
limits the customer reached are listed from ``services.spend_limits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from tallybook.bootstrap import Container
from tallybook.documents import formats
from tallybook.domain.entitlements import Entitlement, Reason
from tallybook.domain.spend_limits import SpendHit
from tallybook.portal import pages
from tallybook.services.spend_limits import SpendStatus

REASONS = {
    None: "Included",
    Reason.NOT_IN_PLAN: "Not in your plan",
    Reason.NO_SUBSCRIPTION: "No active subscription",
    Reason.LIMIT_REACHED: "Limit reached",
    Reason.SPEND_LIMIT_REACHED: "Paused: spend limit reached",
}


@dataclass(frozen=True, slots=True)
class FeatureRow:
    name: str
    access: bool
    status: str
    used: str  # "90,000 of 100,000" for metered features, "" otherwise
    resets: str


@dataclass(frozen=True, slots=True)
class SpendView:
    has_limit: bool
    amount: str  # formatted, e.g. $300.00
    amount_input: str  # plain decimal for the form, e.g. 300.00
    mode: str  # soft | hard
    total: str
    reached: bool
    blocking: bool
    currency: str


@dataclass(frozen=True, slots=True)
class HitRow:
    when: str
    period: str
    limit: str
    total: str
    mode: str


def context(container: Container, tenant: str, customer_id: str, locale: str) -> dict[str, Any]:
    """The template context of the account page of ``customer_id``."""
    previews = container.previews
    usage = previews.current_usage(tenant, customer_id, container.clock.now())
    customer = usage.customer
    tz = customer.timezone
    invoices = container.invoices.list(tenant, customer=customer.account, limit=100)
    spend = container.spend_limits.status(tenant, customer.id)
    return {
        "tenant_name": container.tenants.name(tenant),
        "customer": customer,
        "name": customer.name or customer.id,
        "summary": pages.summary(usage, locale),
        "charts": pages.charts(previews.daily_usage(tenant, usage), tz, locale),
        "credits": pages.credits(container.credits.summary(tenant, customer.account), locale),
        "features": [
            feature_row(e, tz, locale) for e in container.entitlements.all(tenant, customer.id)
        ],
        "spend": spend_view(spend, customer.currency, locale),
        "hits": [hit_row(h, tz, locale) for h in container.spend_limits.hits(tenant, customer.id)],
        "alerts": None,
        "invoices": invoice_rows(list(reversed(invoices.items)), tz, locale),
        "upcoming_url": "/portal/account/upcoming",
    }


def feature_row(entitlement: Entitlement, tz: str, locale: str) -> FeatureRow:
    used = ""
    if entitlement.usage is not None and entitlement.limit is not None:
        used = (
            f"{formats.quantity(entitlement.usage, locale)} of "
            f"{formats.quantity(entitlement.limit, locale)}"
        )
    resets = ""
    if entitlement.reset_at is not None:
        resets = formats.moment(entitlement.reset_at, tz, locale)
    status = REASONS[entitlement.reason]
    if entitlement.reason is Reason.LIMIT_REACHED and entitlement.has_access:
        status = "Over the included limit"
    return FeatureRow(entitlement.feature, entitlement.has_access, status, used, resets)


def spend_view(status: SpendStatus, currency: str, locale: str) -> SpendView:
    limit, total = status.limit, status.total
    total_text = formats.money(total.total if total else Decimal(0), currency, locale)
    if limit is None:
        return SpendView(False, "", "", "soft", total_text, False, False, currency)
    return SpendView(
        True,
        formats.money(limit.amount, limit.currency, locale),
        f"{limit.amount:f}",
        limit.mode.value,
        total_text,
        status.reached,
        status.blocks,
        currency,
    )


def hit_row(hit: SpendHit, tz: str, locale: str) -> HitRow:
    return HitRow(
        when=formats.moment(hit.at, tz, locale),
        period=formats.period_label(hit.period_start, hit.period_end, tz, locale),
        limit=formats.money(hit.limit, hit.currency, locale),
        total=formats.money(hit.total, hit.currency, locale),
        mode=hit.mode.value,
    )


def invoice_rows(invoices: list[Any], tz: str, locale: str) -> list[pages.InvoiceRow]:
    """``pages.invoice_rows`` with links to the account's own invoice pages."""
    rows = pages.invoice_rows(invoices, tz, locale)
    return [
        pages.InvoiceRow(
            row.number,
            row.status,
            row.period,
            row.total,
            f"/portal/account/invoices/{quote(invoice.id, safe='')}",
            "",
        )
        for row, invoice in zip(rows, invoices, strict=True)
    ]
