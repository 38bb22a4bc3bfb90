"""Discount lines: a subscription's percent or fixed-amount discounts on a period's lines.

A discount applies to the flat, proration, usage and true-up lines (``DISCOUNTABLE``) of
the periods it covers; a fixed amount is given once per period, whichever invoices carry
the period's charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.money import format_decimal, round_amount
from tallybook.domain.subscriptions.model import BillingPeriod, DiscountKind, Subscription

ZERO = Decimal(0)
DISCOUNTABLE = (LineType.FLAT, LineType.PRORATION, LineType.USAGE, LineType.TRUE_UP)


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
