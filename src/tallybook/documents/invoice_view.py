"""An invoice for people, built from the contract's invoice JSON (a plain dict).

The HTML page and the PDF both render this one view, so they always show the same
content, and neither knows the internal invoice model: anything that can produce the
contract shape (a stored invoice, an upcoming-invoice preview) can be printed.

Layout decisions:

- lines are grouped by what they are: base fees (flat fees and their proration), usage,
  adjustments (each naming the period it corrects), minimum-spend true-ups, then
  discounts and credits;
- lines carrying a ``customer`` other than the invoice's (a child billed to its parent)
  are grouped under a heading per child, after the parent's own lines;
- tiered usage lines list their tier breakdown underneath;
- a taxed line names its tax underneath; the totals list each rate (exclusive rates
  add to the total, inclusive ones are shown as "incl."), then any exemption note and
  the seller's footer (issue 16).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tallybook.documents import formats
from tallybook.domain.finance.logos import Logo

SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Base fees", frozenset({"flat", "proration"})),
    ("Usage", frozenset({"usage"})),
    ("Adjustments to earlier periods", frozenset({"adjustment"})),
    ("Minimum spend", frozenset({"true_up"})),
    ("Discounts and credits", frozenset({"discount", "credit"})),
)
OTHER_SECTION = "Other charges"
FACTS = (
    ("issue_at", "Issued"),
    ("finalized_at", "Finalized"),
    ("paid_at", "Paid"),
    ("voided_at", "Voided"),
)
STATUS_LABELS = {
    "draft": "Draft",
    "finalized": "Finalized",
    "void": "Void",
    "paid": "Paid",
    "preview": "Preview",
}


@dataclass(frozen=True, slots=True)
class Party:
    """Who an invoice is from or for."""

    name: str
    detail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TierView:
    label: str
    units: str
    unit_price: str
    flat: str
    amount: str


@dataclass(frozen=True, slots=True)
class LineView:
    description: str
    period: str
    quantity: str
    unit_price: str
    amount: str
    note: str = ""
    tiers: tuple[TierView, ...] = ()
    negative: bool = False
    tax: str = ""


@dataclass(frozen=True, slots=True)
class TaxView:
    """One rate's row in the totals: ``label`` such as "DE VAT 19% on 124,00 €"."""

    label: str
    amount: str
    inclusive: bool


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    lines: tuple[LineView, ...]
    total: str


@dataclass(frozen=True, slots=True)
class GroupView:
    """The lines of one customer: the invoice's own (``heading`` None) or a child's."""

    heading: str | None
    sections: tuple[SectionView, ...]


@dataclass(frozen=True, slots=True)
class InvoiceView:
    title: str
    number: str
    customer_id: str  # the bill-to customer's id
    status: str
    status_label: str
    issuer: Party
    bill_to: Party
    period: str
    currency: str
    groups: tuple[GroupView, ...]
    subtotal: str
    discounts: str
    has_discounts: bool
    credits_applied: str
    has_credits: bool
    total: str
    facts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    taxes: tuple[TaxView, ...] = ()
    tax_total: str = ""
    tax_note: str = ""
    footer: str = ""
    notes: tuple[str, ...] = ()  # credit notes issued against this invoice
    logo: Logo | None = None  # the seller's uploaded logo (the snapshot's, when final)
    logo_url: str = ""  # the seller's logo_url: a link on the HTML page, never fetched


@dataclass(frozen=True, slots=True)
class _Context:
    currency: str
    locale: str
    tz: str | None

    def money(self, value: object) -> str:
        return formats.money(value, self.currency, self.locale)

    def period(self, start: object, end: object) -> str:
        return formats.period_label(start, end, self.tz, self.locale)


def invoice_view(
    invoice: Mapping[str, Any],
    *,
    issuer: Party,
    customer: Party | None = None,
    children: Mapping[str, str] | None = None,
    timezone: str | None = None,
    locale: str = formats.DEFAULT_LOCALE,
    footer: str = "",
    notes: tuple[str, ...] = (),
    logo: Logo | None = None,
    logo_url: str = "",
) -> InvoiceView:
    """The view of ``invoice`` (contract JSON). ``children`` maps child ids to names."""
    currency = str(invoice.get("currency") or "USD")
    ctx = _Context(currency, locale, timezone)
    own = str(invoice.get("customer") or "")
    status = str(invoice.get("status") or "draft")
    number = str(invoice.get("number") or "")
    credits = formats.decimal(invoice.get("credits_applied"))
    discounts = _discount_total(invoice)
    return InvoiceView(
        title=_title(number, status),
        number=number,
        customer_id=own,
        status=status,
        status_label=STATUS_LABELS.get(status, status.replace("_", " ").capitalize()),
        issuer=issuer,
        bill_to=customer or Party(own),
        period=ctx.period(invoice.get("period_start"), invoice.get("period_end")),
        currency=currency,
        groups=_groups(invoice.get("lines") or [], own, children or {}, ctx),
        subtotal=ctx.money(invoice.get("subtotal")),
        discounts=ctx.money(discounts),
        has_discounts=bool(discounts),
        credits_applied=ctx.money(credits or 0),
        has_credits=bool(credits),
        total=ctx.money(invoice.get("total")),
        facts=_facts(invoice, ctx),
        taxes=tuple(_tax_row(t, ctx) for t in invoice.get("taxes") or () if isinstance(t, Mapping)),
        tax_total=ctx.money(invoice.get("tax_total")),
        tax_note=str(invoice.get("tax_note") or ""),
        footer=footer,
        notes=notes or _credit_notes(invoice, ctx),
        logo=logo,
        logo_url=logo_url,
    )


REFUNDS = {"credit_balance": "to the credit balance", "external": "refunded"}


def _credit_notes(invoice: Mapping[str, Any], ctx: _Context) -> tuple[str, ...]:
    """One line per credit note: number, date, amount, refund and reason."""
    rows = []
    for note in invoice.get("credit_notes") or ():
        if not isinstance(note, Mapping):
            continue
        moment = formats.instant(note.get("created_at"))
        when = f" of {formats.moment(moment, ctx.tz, ctx.locale)}" if moment else ""
        refund = REFUNDS.get(str(note.get("refund")), str(note.get("refund") or ""))
        rows.append(
            f"{note.get('number')}{when}: {ctx.money(note.get('total'))} {refund}"
            f" - {note.get('reason') or ''}"
        )
    return tuple(rows)


def _tax_row(tax: Mapping[str, Any], ctx: _Context) -> TaxView:
    percent = formats.decimal(tax.get("percentage"))
    rate = "" if percent is None else f" {formats.percent(percent, ctx.locale)}"
    base = ctx.money(tax.get("taxable_amount"))
    inclusive = bool(tax.get("inclusive"))
    prefix = "incl. " if inclusive else ""
    return TaxView(
        f"{prefix}{tax.get('name')}{rate} on {base}", ctx.money(tax.get("amount")), inclusive
    )


def _title(number: str, status: str) -> str:
    if status == "preview":
        return "Upcoming invoice"
    if number:
        return f"Invoice {number}"
    return "Draft invoice" if status == "draft" else "Invoice"


def _discount_total(invoice: Mapping[str, Any]) -> Decimal:
    """Discounts as a positive amount: ``discount_total`` when given, else the lines' sum."""
    given = formats.decimal(invoice.get("discount_total"))
    if given is not None:
        return given
    amounts = (
        formats.decimal(line.get("amount"))
        for line in invoice.get("lines") or ()
        if line.get("type") == "discount"
    )
    return -sum((a for a in amounts if a is not None), Decimal(0))


def _facts(invoice: Mapping[str, Any], ctx: _Context) -> tuple[tuple[str, str], ...]:
    facts: list[tuple[str, str]] = []
    for key, label in FACTS:
        if key == "issue_at" and invoice.get("status") in ("draft", "preview"):
            label = "To be issued"
        moment = formats.instant(invoice.get(key))
        if moment is not None:
            facts.append((label, formats.moment(moment, ctx.tz, ctx.locale)))
    facts.append(("Currency", ctx.currency))
    return tuple(facts)


def _groups(
    lines: Iterable[Mapping[str, Any]], own: str, children: Mapping[str, str], ctx: _Context
) -> tuple[GroupView, ...]:
    by_customer: dict[str, list[Mapping[str, Any]]] = {own: []}
    for line in lines:
        by_customer.setdefault(str(line.get("customer") or own), []).append(line)
    groups = []
    for customer, customer_lines in by_customer.items():
        if customer != own and not customer_lines:
            continue
        heading = None if customer == own else f"{children.get(customer, customer)}"
        groups.append(GroupView(heading, _sections(customer_lines, ctx)))
    return tuple(g for g in groups if g.sections or g.heading is None)


def _sections(lines: list[Mapping[str, Any]], ctx: _Context) -> tuple[SectionView, ...]:
    sections: list[SectionView] = []
    known: set[str] = set()
    for title, types in SECTIONS:
        known |= types
        picked = [line for line in lines if str(line.get("type")) in types]
        if picked:
            sections.append(_section(title, picked, ctx))
    others = [line for line in lines if str(line.get("type")) not in known]
    if others:
        sections.append(_section(OTHER_SECTION, others, ctx))
    return tuple(sections)


def _section(title: str, lines: list[Mapping[str, Any]], ctx: _Context) -> SectionView:
    amounts = [formats.decimal(line.get("amount")) for line in lines]
    total = sum((a for a in amounts if a is not None), Decimal(0))
    return SectionView(title, tuple(_line(line, ctx) for line in lines), ctx.money(total))


def _line(line: Mapping[str, Any], ctx: _Context) -> LineView:
    period = ctx.period(line.get("period_start"), line.get("period_end"))
    kind = str(line.get("type"))
    amount = formats.decimal(line.get("amount"))
    return LineView(
        description=str(line.get("description") or line.get("charge") or ""),
        period=f"Corrects {period}" if kind == "adjustment" and period else period,
        quantity=formats.quantity(line.get("quantity"), ctx.locale),
        unit_price=formats.unit_price(line.get("unit_amount"), ctx.currency, ctx.locale),
        amount=ctx.money(line.get("amount")),
        note=_usage_note(line, ctx.locale),
        tiers=tuple(_tier(t, ctx) for t in line.get("breakdown") or () if isinstance(t, Mapping)),
        negative=amount is not None and amount < 0,
        tax=_line_tax(line, ctx),
    )


def _line_tax(line: Mapping[str, Any], ctx: _Context) -> str:
    parts = []
    for tax in line.get("taxes") or ():
        if not isinstance(tax, Mapping):
            continue
        percent = formats.decimal(tax.get("percentage"))
        rate = "" if percent is None else f" {formats.percent(percent, ctx.locale)}"
        kind = "incl." if tax.get("inclusive") else "+"
        parts.append(f"{kind} {tax.get('name')}{rate}: {ctx.money(tax.get('amount'))}")
    return " \u00b7 ".join(parts)


def _usage_note(line: Mapping[str, Any], locale: str) -> str:
    used, included = line.get("used"), line.get("included")
    parts = []
    if used is not None:
        parts.append(f"{formats.quantity(used, locale)} used")
    if included is not None and formats.decimal(included):
        parts.append(f"{formats.quantity(included, locale)} included")
    return " \u00b7 ".join(parts)


def _tier(tier: Mapping[str, Any], ctx: _Context) -> TierView:
    first = formats.quantity(tier.get("first_unit"), ctx.locale)
    last = tier.get("last_unit")
    if last is None:
        span = f"{first}+" if first else "all units"
    else:
        span = f"{first} \u2013 {formats.quantity(last, ctx.locale)}"
    number = tier.get("tier")  # 1-based in the contract shape
    label = f"Tier {number}: {span}" if isinstance(number, int) else span
    flat = formats.decimal(tier.get("flat_amount"))
    return TierView(
        label=label,
        units=formats.quantity(tier.get("units"), ctx.locale),
        unit_price=formats.unit_price(tier.get("unit_amount"), ctx.currency, ctx.locale),
        flat=ctx.money(flat) if flat else "",
        amount=ctx.money(tier.get("amount")),
    )
