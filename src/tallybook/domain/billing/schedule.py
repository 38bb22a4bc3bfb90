"""When a subscription's invoices are issued: its invoice *slots* (standard library only).

Three kinds of invoice slots per subscription (``slots``):

- ``opening``: issued when billing starts, it carries the in-advance flat fees of the
  first period (only when the plan has any);
- ``period``: issued when a period ends, it carries what that period used (usage lines,
  in-arrears fees, proration of changes, the minimum-spend true-up) and the in-advance
  fees of the next period, when there is one;
- ``adjustment``: after a subscription ends, at each of the next ``ADJUSTMENT_LOOKBACK``
  boundaries of its schedule (as if it had gone on, ``trailing_periods``): it carries
  only late-usage adjustments of its last periods, and makes an invoice only when there
  are some (``domain.invoicing`` puts them on another subscription's invoice first).

What a slot's period owes is computed in ``domain.billing.period_lines``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tallybook.domain.billing.period_lines import Plans, advance_lines, plan_for
from tallybook.domain.subscriptions.model import BillingPeriod, Subscription

# How many earlier final periods each new invoice recomputes for late events: each one
# costs its usage queries again on every run while the invoice is draft (docs/billing.md).
# An ended subscription keeps as many ``adjustment`` slots after its end.
ADJUSTMENT_LOOKBACK = 3


class SlotKind(StrEnum):
    OPENING = "opening"
    PERIOD = "period"
    ADJUSTMENT = "adjustment"  # late usage of an ended subscription
    CREDIT_PURCHASE = "credit_purchase"  # a paid credit grant's own invoice


@dataclass(frozen=True, slots=True)
class Slot:
    """One invoice-worth of a subscription: issued at ``issue_at``."""

    subscription: str
    kind: SlotKind
    period: BillingPeriod

    @property
    def issue_at(self) -> datetime:
        return self.period.start if self.kind is SlotKind.OPENING else self.period.end

    @property
    def key(self) -> tuple[str, SlotKind, datetime]:
        return (self.subscription, self.kind, self.period.start)


# -- slots ----------------------------------------------------------------------------


def slots(subscription: Subscription, plans: Plans, until: datetime) -> list[Slot]:
    """The slots issued at or before ``until``, in order."""
    result: list[Slot] = []
    for period in subscription.periods():
        if period.index == 0 and period.start <= until:
            opening = Slot(subscription.id, SlotKind.OPENING, period)
            if advance_lines(subscription, period, plans):
                result.append(opening)
        if period.end > until:
            return result
        result.append(Slot(subscription.id, SlotKind.PERIOD, period))
    for period in trailing_periods(subscription):
        if period.end > until:
            break
        result.append(Slot(subscription.id, SlotKind.ADJUSTMENT, period))
    return result


def next_issue_at(
    subscription: Subscription,
    plans: Plans,
    billed_through: datetime | None,
    after: datetime | None = None,
) -> datetime | None:
    """When the first slot after ``billed_through`` is issued (None: nothing more).

    A plan with plan credits (``credit_grant`` charges) also wakes the run at the first
    period's start, which grants them, unless the run at ``after`` already did (each
    later period's start is the previous period's issue time anyway)."""
    for period in subscription.periods():
        opening = period.index == 0 and (billed_through is None or period.start > billed_through)
        if opening and advance_lines(subscription, period, plans):
            return period.start
        if (
            opening
            and (after is None or after < period.start)
            and _grants_credits(subscription, period, plans)
        ):
            return period.start
        if billed_through is None or period.end > billed_through:
            return period.end
    for period in trailing_periods(subscription):
        if billed_through is None or period.end > billed_through:
            return period.end
    return None


def _grants_credits(subscription: Subscription, period: BillingPeriod, plans: Plans) -> bool:
    return bool(plan_for(plans, subscription.phase_at(period.start).plan).credit_grants)


def trailing_periods(subscription: Subscription) -> list[BillingPeriod]:
    """After an ended subscription's last period: the next ``ADJUSTMENT_LOOKBACK``
    periods its schedule would have had (the first from the end to the next boundary),
    numbered on. Their ends are when its late usage is looked for (``adjustment`` slots);
    none for a subscription that never billed or has not ended."""
    if subscription.end is None:
        return []
    billed = list(subscription.periods())  # finite: the subscription ends
    if not billed:
        return []
    last = billed[-1]
    trailing: list[BillingPeriod] = []
    start = subscription.end
    for period in replace(subscription, end=None).periods():
        if period.index < last.index or period.end <= start:
            continue
        index = last.index + len(trailing) + 1
        trailing.append(BillingPeriod(index, start, period.end, period.full))
        start = period.end
        if len(trailing) == ADJUSTMENT_LOOKBACK:
            break
    return trailing


def billed_ahead(subscription: Subscription, plans: Plans, boundary: datetime | None) -> bool:
    """True if the invoice issued at ``boundary`` billed in-advance fees for the period
    starting there (so a change at exactly ``boundary`` would alter a final invoice)."""
    if boundary is None:
        return False
    period = subscription.period_at(boundary)
    if period is None or period.start != boundary:
        return False
    return bool(advance_lines(subscription, period, plans))
