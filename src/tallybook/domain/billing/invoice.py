"""Invoices: the model, its totals, discounts, late-usage adjustments and status rules.

``InvoiceDraft`` is what billing computes (never stored by itself: previews use it as
is); ``Invoice`` is a stored one with an id, a status and, once final, a number.

Totals (decided here, documented in docs/billing.md):

- ``subtotal``: the sum of every line except discounts and credits;
- ``discount_total``: the sum of the discount lines, shown as a positive amount;
- ``credits_applied``: prepaid credits drawn (``credit`` lines), positive ("0" for now);
- ``total = subtotal - discount_total - credits_applied``, exactly the sum of all lines.

Every line amount is already rounded (``rating``); totals are sums of rounded lines.

Statuses: ``draft`` (recomputed by each billing run, no number) -> ``finalized``
(immutable, numbered) -> ``paid`` or ``void``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.billing.lines import Line, LineType, line_to_dict
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.errors import Conflict
from tallybook.domain.money import format_decimal, round_amount
from tallybook.domain.subscriptions.model import BillingPeriod, DiscountKind, Subscription

ZERO = Decimal(0)
NUMBER_PREFIX = "INV-"
ADJUSTABLE = (LineType.USAGE, LineType.TRUE_UP, LineType.ADJUSTMENT)
DISCOUNTABLE = (LineType.FLAT, LineType.PRORATION, LineType.USAGE, LineType.TRUE_UP)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    credits_applied: Decimal
    total: Decimal


def totals(lines: Iterable[Line], currency: str) -> Totals:
    subtotal = discounts = credits = round_amount(ZERO, currency)
    for line in lines:
        if line.type is LineType.DISCOUNT:
            discounts -= line.amount
        elif line.type is LineType.CREDIT:
            credits -= line.amount
        else:
            subtotal += line.amount
    return Totals(subtotal, discounts, credits, subtotal - discounts - credits)


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A computed invoice for one bill-to customer and one period (not stored)."""

    customer: str
    currency: str
    kind: SlotKind
    period_start: datetime
    period_end: datetime
    issue_at: datetime
    lines: tuple[Line, ...]
    slots: tuple[tuple[str, SlotKind, datetime], ...] = ()
    totals: Totals = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "totals", totals(self.lines, self.currency))

    @property
    def key(self) -> tuple[SlotKind, datetime, datetime]:
        return (self.kind, self.period_start, self.period_end)

    @property
    def content_hash(self) -> str:
        """A digest of the lines: a draft is *updated* only when this changes."""
        return content_digest([line_to_dict(line) for line in self.lines])


@dataclass(frozen=True, slots=True)
class Invoice:
    """A stored invoice. ``number`` is set at finalization (gapless per tenant)."""

    id: str
    number: int | None
    status: InvoiceStatus
    customer: str
    currency: str
    kind: SlotKind
    period_start: datetime
    period_end: datetime
    issue_at: datetime
    lines: tuple[Line, ...]
    totals: Totals
    created_at: datetime
    updated_at: datetime
    finalized_at: datetime | None = None
    voided_at: datetime | None = None
    paid_at: datetime | None = None

    @property
    def display_number(self) -> str | None:
        return None if self.number is None else format_number(self.number)

    def voided(self, now: datetime) -> Invoice:
        self._require(InvoiceStatus.FINALIZED, "void")
        return replace(self, status=InvoiceStatus.VOID, voided_at=now, updated_at=now)

    def paid(self, now: datetime) -> Invoice:
        self._require(InvoiceStatus.FINALIZED, "pay")
        return replace(self, status=InvoiceStatus.PAID, paid_at=now, updated_at=now)

    def _require(self, status: InvoiceStatus, action: str) -> None:
        if self.status is not status:
            raise Conflict(
                f"cannot {action} a {self.status.value} invoice (it must be {status.value})",
                code="invalid_invoice_status",
                details={"status": self.status.value},
            )


def content_digest(documents: Sequence[Mapping[str, Any]]) -> str:
    """The digest of serialised lines (``line_to_dict``), as ``InvoiceDraft.content_hash``."""
    text = json.dumps(documents, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def format_number(number: int) -> str:
    return f"{NUMBER_PREFIX}{number:06d}"


def parse_number(text: str) -> int | None:
    """``INV-000042`` or ``42`` -> 42; None when ``text`` is not an invoice number."""
    digits = text[len(NUMBER_PREFIX) :] if text.upper().startswith(NUMBER_PREFIX) else text
    return int(digits) if digits.isdigit() and len(digits) < 18 else None


# -- discounts ---------------------------------------------------------------------------


def discount_lines(
    subscription: Subscription,
    period: BillingPeriod,
    lines: Sequence[Line],
    earlier: Sequence[Line],
) -> list[Line]:
    """Discount lines for the ``lines`` of ``period`` on this invoice.

    ``earlier`` are the period's lines already billed on an earlier invoice (its
    in-advance fees), so a fixed amount is given once per period, whichever invoices
    carry the period's charges: this invoice gets ``D(earlier + lines) - D(earlier)``.
    """
    result: list[Line] = []
    currency = subscription.currency
    for discount in subscription.discounts:
        first = subscription.discount_first_index(discount)
        if not discount.covers(first, period.index):
            continue
        before = _discountable(earlier)
        now = before + _discountable(lines)
        if discount.kind is DiscountKind.PERCENT:
            rate = discount.value / 100
            amount = round_amount(now * rate, currency) - round_amount(before * rate, currency)
            what = f"{format_decimal(discount.value.normalize())}% off"
        else:
            amount = min(discount.value, max(now, ZERO)) - min(discount.value, max(before, ZERO))
            amount = round_amount(amount, currency)
            what = f"{format_decimal(discount.value)} {currency} off"
        if amount == 0:
            continue
        which = _discount_period_text(discount.periods, period.index - first)
        text = f"Discount {discount.description or discount.id}: {what} ({which})"
        result.append(
            Line(
                type=LineType.DISCOUNT,
                charge=discount.id,
                description=text,
                quantity=Decimal(1),
                unit_amount=-amount,
                amount=-amount,
                period_start=period.start,
                period_end=period.end,
            )
        )
    return result


def _discountable(lines: Sequence[Line]) -> Decimal:
    return sum((line.amount for line in lines if line.type in DISCOUNTABLE), ZERO)


def _discount_period_text(periods: int | None, offset: int) -> str:
    if periods is None:
        return "every period"
    return f"period {offset + 1} of {periods}"


# -- adjustments for late usage ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Billed:
    amount: Decimal = ZERO
    quantity: Decimal = ZERO

    def __add__(self, other: Billed) -> Billed:
        return Billed(self.amount + other.amount, self.quantity + other.quantity)


def billed_by_charge(lines: Iterable[Line | Line]) -> dict[str, Billed]:
    """What was billed per charge for usage (usage, true-up and adjustment lines)."""
    billed: dict[str, Billed] = {}
    for line in lines:
        if line.type in ADJUSTABLE:
            billed[line.charge] = billed.get(line.charge, Billed()) + Billed(
                line.amount, line.quantity
            )
    return billed


def adjustment_lines(
    period: BillingPeriod,
    recomputed: Sequence[Line],
    billed: Mapping[str, Billed],
    currency: str,
) -> list[Line]:
    """One ``adjustment`` line per charge whose recomputed usage (or true-up) for a final
    ``period`` differs from what was billed for it: the difference, never the whole."""
    now = billed_by_charge(recomputed)
    names = {line.charge: line.description.partition(":")[0] for line in recomputed}
    lines = []
    for charge in sorted(set(now) | set(billed)):
        new, old = now.get(charge, Billed()), billed.get(charge, Billed())
        delta = round_amount(new.amount - old.amount, currency)
        if delta == 0:
            continue
        span = f"{period.start.date().isoformat()} to {period.end.date().isoformat()}"
        units = new.quantity - old.quantity
        lines.append(
            Line(
                type=LineType.ADJUSTMENT,
                charge=charge,
                description=(
                    f"Adjustment for {span} ({names.get(charge, charge)}): late usage, "
                    f"{_signed(units)} billable units, billed {format_decimal(old.amount)}, "
                    f"now {format_decimal(new.amount)}"
                ),
                quantity=units,
                unit_amount=None,
                amount=delta,
                period_start=period.start,
                period_end=period.end,
            )
        )
    return lines


def _signed(value: Decimal) -> str:
    text = format_decimal(value.normalize() if value != value.to_integral_value() else value)
    return text if value < 0 else f"+{text}"
