"""Revenue recognition: an invoice line's amount spread over the months of its service
period (pure).

Rules decided here (docs/invoicing-for-finance.md states them for finance teams):

- Each line of a final (finalized or paid) invoice is recognized over its service
  period ``[period_start, period_end)`` (the invoice's period for a line without one),
  in calendar months of the customer's time zone. A line whose period starts and ends
  in one month is recognized in that month (usage in its month).
- **Weights**: a month the period covers whole weighs 1; a partly covered month weighs
  the covered share of that month's length. So a twelve-month fee paid in advance is
  recognized 1/12 a month whatever the months' lengths, and a prorated fee lands in the
  months it covers.
- **Rounding** (``money.round_amount``, once per month): every month but the last gets
  ``round(amount x weight / total weight)``; the **last month takes the remainder**, so
  the months add up exactly to the line (100.00 over 12 months: eleven of 8.33, then 8.37).
- Amounts are before tax (tax is owed to the state, not revenue). Discount and credit
  lines are recognized like any line over their period (they reduce revenue); a credit
  note line reverses the credited amount over the credited line's period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tallybook.domain.money import DECIMAL_CONTEXT, round_amount

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MonthShare:
    """One month (``YYYY-MM`` in the customer's zone) and the amount recognized in it."""

    month: str
    amount: Decimal


def _months(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[tuple[str, Decimal]]:
    """(month, weight) of every month ``[start, end)`` touches, in order."""
    local = start.astimezone(zone)
    first = datetime(local.year, local.month, 1, tzinfo=zone)
    while first < end:
        following = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=zone)
        month_len = _seconds(following - first)
        covered = _seconds(min(end, following) - max(start, first))
        if covered > 0:
            yield f"{first.year:04d}-{first.month:02d}", DECIMAL_CONTEXT.divide(covered, month_len)
        first = following


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds) / 10**6


def recognize(
    amount: Decimal, start: datetime, end: datetime, currency: str, zone: ZoneInfo
) -> list[MonthShare]:
    """``amount`` spread over the months of ``[start, end)`` (see the module rules); an
    empty or reversed period puts it all in ``start``'s month."""
    weights = list(_months(start, end, zone)) if end > start else []
    if not weights:
        local = start.astimezone(zone)
        return [MonthShare(f"{local.year:04d}-{local.month:02d}", amount)]
    total = sum((w for _, w in weights), ZERO)
    shares = []
    given = ZERO
    for index, (month, weight) in enumerate(weights):
        if index == len(weights) - 1:
            part = amount - given
        else:
            part = round_amount(
                DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(amount, weight), total), currency
            )
        given += part
        shares.append(MonthShare(month, part))
    return shares
