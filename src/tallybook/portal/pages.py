"""What the portal pages show, computed from the preview service's values.

Templates only lay these out; every number is formatted here (babel, per locale).
Allowance bars: below 80% of the allowance is ``ok``, from 80% ``warn``, from 100%
``over``; a charge without an allowance has no bar, only its usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.dates import format_date

from tallybook.documents import formats
from tallybook.documents.links import credit_note_urls, invoice_urls
from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.money import round_quantity_for_display
from tallybook.services.billing.previews import ChargeUsage, CurrentUsage, MeterDays
from tallybook.services.credits import CreditSummary

WARN_AT = Decimal(80)
OVER_AT = Decimal(100)
PALETTE = ("#2f5bd3", "#0f8a6b", "#b4561c", "#7a3fb8", "#a3214e", "#3d6b7a")


@dataclass(frozen=True, slots=True)
class AllowanceBar:
    name: str
    used: str
    included: str
    remaining: str
    billable: str
    amount: str
    projected_used: str
    projected_amount: str
    percent: int  # of the allowance used (may pass 100); -1 without an allowance
    projected_percent: int
    width: int  # 0-100, for drawing
    level: str  # ok | warn | over | none
    label: str  # the whole sentence, for assistive technology

    @property
    def has_allowance(self) -> bool:
        return self.level != "none"


@dataclass(frozen=True, slots=True)
class UsageSummary:
    plans: str
    period: str
    amount: str
    projected_total: str
    bars: tuple[AllowanceBar, ...]
    active: bool

    @property
    def worst(self) -> str:
        levels = [b.level for b in self.bars]
        return next((lv for lv in ("over", "warn", "ok") if lv in levels), "none")


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: str
    name: str
    url: str
    summary: UsageSummary


@dataclass(frozen=True, slots=True)
class ChartView:
    """One meter's daily chart: ``label`` names the canvas for assistive technology,
    ``data`` is embedded as JSON for Chart.js (``portal.js``) and ``rows`` is the same
    numbers as a table (screen readers, no script)."""

    name: str
    label: str
    data: dict[str, object]
    rows: tuple[tuple[str, str], ...]  # (day, value) for the table alternative
    total: str


@dataclass(frozen=True, slots=True)
class NoteLink:
    """A credit note under its invoice's row: ``label`` ("CN-000001: €117.81") and the
    note's own page and PDF (``/v1/credit-notes/{id}.html``, ``.pdf``)."""

    label: str
    html_url: str
    pdf_url: str


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    number: str
    status: str
    period: str
    total: str
    html_url: str
    pdf_url: str
    credit_notes: tuple[NoteLink, ...] = ()  # "CN-000001: €117.81" and its documents


def summary(usage: CurrentUsage, locale: str) -> UsageSummary:
    tz = usage.customer.timezone
    return UsageSummary(
        plans=", ".join(usage.plans),
        period=formats.period_label(usage.period_start, usage.period_end, tz, locale),
        amount=formats.money(usage.amount, usage.currency, locale),
        projected_total=formats.money(usage.projected_total, usage.currency, locale),
        bars=tuple(allowance_bar(c, usage.currency, locale) for c in usage.charges),
        active=usage.period_start is not None,
    )


def allowance_bar(charge: ChargeUsage, currency: str, locale: str) -> AllowanceBar:
    def qty(value: Decimal) -> str:
        return formats.quantity(value, locale)

    def cash(value: Decimal) -> str:
        return formats.money(value, currency, locale)

    percent, level = _level(charge.used, charge.included)
    projected_percent, _ = _level(charge.projected_used, charge.included)
    label = f"{charge.name}: {qty(charge.used)} used"
    if level != "none":
        label += f" of {qty(charge.included)} included ({percent}%)"
    return AllowanceBar(
        name=charge.name,
        used=qty(charge.used),
        included=qty(charge.included),
        remaining=qty(charge.remaining),
        billable=qty(charge.billable),
        amount=cash(charge.amount),
        projected_used=qty(charge.projected_used),
        projected_amount=cash(charge.projected_amount),
        percent=percent,
        projected_percent=projected_percent,
        width=max(0, min(percent, 100)),
        level=level,
        label=label,
    )


def allowance_level(used: Decimal, included: Decimal) -> tuple[int, str]:
    """(whole percent of ``included`` used, level ``none``/``ok``/``warn``/``over``): the
    rule of the allowance bars, without formatting anything (the console's overage scan)."""
    return _level(used, included)


def _level(used: Decimal, included: Decimal) -> tuple[int, str]:
    if included <= 0:
        return -1, "none"
    percent = used * 100 / included
    level = "over" if percent >= OVER_AT else "warn" if percent >= WARN_AT else "ok"
    return int(percent), level


def charts(days: Sequence[MeterDays], tz: str, locale: str) -> list[ChartView]:
    """One chart per meter of the current period, the data Chart.js draws.

    ``data``: ``labels`` (day of month per day of the period), ``values`` (the day's
    quantity as a decimal string rounded for reading like every quantity a page shows
    (``round_quantity_for_display``), ``null`` for a day still to come: an empty slot, so the
    reader sees how far into the period they are), ``titles`` (tooltip per day, formatted
    for ``locale``), ``label`` and ``color``. Strings, not floats: the browser parses them
    only to draw.
    """
    views = []
    for index, meter in enumerate(days):
        labels: list[str] = []
        values: list[str | None] = []
        titles: list[str] = []
        rows = []
        for period, value in meter.days:
            local = period.start.astimezone(formats.zone(tz))
            day = str(format_date(local.date(), "medium", locale=locale))
            shown = "" if value is None else formats.quantity(value, locale)
            labels.append(str(local.day))
            values.append(None if value is None else f"{round_quantity_for_display(value):f}")
            titles.append(f"{day}: {shown or 'to come'}")
            if value is not None:
                rows.append((day, shown))
        total = meter.so_far if meter.so_far is not None else Decimal(0)
        label = f"{meter.name} per day, current period"
        data: dict[str, object] = {
            "label": meter.name,
            "labels": labels,
            "values": values,
            "titles": titles,
            "color": PALETTE[index % len(PALETTE)],
        }
        views.append(
            ChartView(meter.name, label, data, tuple(rows), formats.quantity(total, locale))
        )
    return views


def invoice_rows(
    invoices: Sequence[Invoice],
    tz: str,
    locale: str,
    notes: Sequence[CreditNote] = (),
) -> list[InvoiceRow]:
    """The invoice table, each row with the credit notes issued against the invoice."""
    by_invoice: dict[str, list[NoteLink]] = {}
    for note in notes:
        total = formats.money(note.total, note.currency, locale)
        link = NoteLink(f"{note.display_number}: {total}", *credit_note_urls(note.id))
        by_invoice.setdefault(note.invoice, []).append(link)
    rows = []
    for invoice in invoices:
        html_url, pdf_url = invoice_urls(invoice.id)
        rows.append(
            InvoiceRow(
                number=invoice.display_number or "Draft",
                status=invoice.status.value,
                period=formats.period_label(invoice.period_start, invoice.period_end, tz, locale),
                total=formats.money(invoice.totals.total, invoice.currency, locale),
                html_url=html_url,
                pdf_url=pdf_url,
                credit_notes=tuple(by_invoice.get(invoice.id, ())),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class CreditsCard:
    """The bill-to customer's live credit balance, formatted (``services.credits``)."""

    balance: str
    available: str
    projected_available: str


def credits(summary: CreditSummary, locale: str) -> CreditsCard | None:
    """The credits card, or None when the customer has no credit left."""
    if not summary.grants:
        return None
    return CreditsCard(
        balance=formats.money(summary.balance, summary.currency, locale),
        available=formats.money(summary.available, summary.currency, locale),
        projected_available=formats.money(summary.projected_available, summary.currency, locale),
    )
