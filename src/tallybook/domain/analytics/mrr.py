"""Monthly recurring revenue: committed fees of a subscription, and month-to-month
movements per customer (docs/analytics.md has the definitions with worked numbers).

- **Committed MRR** of a subscription at an instant: its plan's flat and seat fees in
  force then (both timings), net of the recurring discounts covering that period,
  normalised to a month: ``year / 12``, ``quarter / 3``, ``week x 52 / 12``,
  ``day x 365 / 12``; zero during a trial and once ended. One-off (single-period)
  discounts, prorations, true-ups and credits are not recurring and not counted.
- **Movements** of a customer from one month to the next (``classify``): ``new`` (first
  MRR ever), ``reactivation`` (MRR again after its subscriptions had ended),
  ``expansion`` and ``contraction`` (MRR up or down while subscribed; a drop to zero
  while still subscribed is a contraction), ``churn`` (MRR lost because the customer's
  last subscription ended). Losses are negative, so ``mrr(m) - mrr(m-1)`` equals the sum
  of the movements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from tallybook.domain.catalog.model import Plan
from tallybook.domain.money import DECIMAL_CONTEXT, round_amount
from tallybook.domain.periods import Interval
from tallybook.domain.subscriptions.model import DiscountKind, PlanRef, Subscription

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

# How many of a plan interval make a month.
PER_MONTH: dict[Interval, Decimal] = {
    Interval.DAY: Decimal(365) / Decimal(12),
    Interval.WEEK: Decimal(52) / Decimal(12),
    Interval.MONTH: ONE,
    Interval.QUARTER: ONE / Decimal(3),
    Interval.YEAR: ONE / Decimal(12),
}
MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def is_subscribed(subscription: Subscription, at: datetime) -> bool:
    """True when the subscription has started (trial included) and not ended at ``at``."""
    return subscription.start <= at and (subscription.end is None or subscription.end > at)


def committed_mrr(
    subscription: Subscription, plans: Mapping[PlanRef, Plan], at: datetime
) -> Decimal:
    """The subscription's committed MRR at ``at``, rounded to its currency's minor unit.

    Zero before billing starts (trial) and after the end. Raises ``KeyError`` when the
    plan version is missing from ``plans``.
    """
    if at < subscription.billing_start or not is_subscribed(subscription, at):
        return round_amount(ZERO, subscription.currency)
    plan = plans[subscription.phase_at(at).plan]
    quantities = subscription.quantities_at(at)
    fees = ZERO
    for charge in plan.flat_charges:
        if charge.quantity_key is None:
            fees += charge.amount or ZERO
        else:
            fees += (charge.unit_amount or ZERO) * quantities.get(charge.quantity_key, ONE)
    net = fees - _recurring_discounts(subscription, at, fees)
    with localcontext(DECIMAL_CONTEXT):
        monthly = net * PER_MONTH[subscription.interval]
    return round_amount(monthly, subscription.currency)


def _recurring_discounts(subscription: Subscription, at: datetime, fees: Decimal) -> Decimal:
    period = subscription.period_at(at)
    if period is None or not subscription.discounts:
        return ZERO
    off = ZERO
    for discount in subscription.discounts:
        if discount.periods == 1:
            continue  # one-off
        if not discount.covers(subscription.discount_first_index(discount), period.index):
            continue
        if discount.kind is DiscountKind.PERCENT:
            off += fees * discount.value / HUNDRED
        else:
            off += min(discount.value, fees)
    return min(off, fees)


@dataclass
class Movements:
    """The MRR movements of one month (gains positive, losses negative)."""

    new: Decimal = ZERO
    expansion: Decimal = ZERO
    contraction: Decimal = ZERO
    churn: Decimal = ZERO
    reactivation: Decimal = ZERO

    def as_dict(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in MOVEMENTS}


@dataclass(frozen=True, slots=True)
class CustomerMonth:
    """One customer's MRR in a month and the month before, with what it takes to name
    the change: whether it is subscribed at either snapshot and had MRR before."""

    previous: Decimal
    current: Decimal
    subscribed_before: bool
    subscribed_now: bool
    had_mrr_before: bool


def classify(month: CustomerMonth) -> tuple[str, Decimal] | None:
    """The movement (name, signed amount) of one customer's MRR change; None if none."""
    before, now = month.previous, month.current
    if before == now:
        return None
    if before > 0 and now > 0:
        return ("expansion", now - before) if now > before else ("contraction", now - before)
    if before > 0:  # now is zero
        return ("contraction", -before) if month.subscribed_now else ("churn", -before)
    if not month.had_mrr_before:
        return ("new", now)
    if not month.subscribed_before:
        return ("reactivation", now)
    return ("expansion", now)


@dataclass
class MonthTotals:
    """MRR of one month and currency: committed, usage, customers and movements."""

    committed: Decimal = ZERO
    usage: Decimal = ZERO
    customers: int = 0
    movements: Movements = field(default_factory=Movements)

    @property
    def mrr(self) -> Decimal:
        return self.committed + self.usage
