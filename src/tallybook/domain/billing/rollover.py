"""Allowance rollover (CONTRACT.md Part 2, Credits): ``rollover: {max}`` on a usage charge.

The rule, in the words docs/credits.md gives customers:

- What a period leaves unused of **its own** allowance carries into the next period only
  (never further), at most ``max`` units.
- Carried units are consumed **before** that period's own allowance. So a period's own
  allowance is untouched until its usage passes the carried units, and what carries on
  is ``min(max, own, max(0, own + carried_in - used))`` (``carry_out``).
- The period that gives is judged by its **last usage span** of the charge (the plan in
  force at its end, with the allowance that span had: scaled by time for a partial
  period or a ``prorate`` change); it must have the charge with ``rollover``. The period
  that receives adds the units to the allowance of its **first usage span**, if the plan
  in force at its start has a charge with the same key. A span that does not start its
  period (after a plan change inside the period) receives nothing.
- The first period receives nothing. Everything is computed from the stored events
  (like every other line), so a late event changes the carry exactly as if it had been
  on time: the periods it affects are adjusted within the usual look-back.

Because carried units are consumed first, the carry into a period depends on the carry
into the one before: ``chain`` walks back through the subscription's periods, as long as
each gave from a span that also received (a single-span period with the charge's
rollover), and the fold (``carried_in``) replays them oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.proration import parts, scale_allowance, usage_spans
from tallybook.domain.catalog.model import Plan, UsageCharge
from tallybook.domain.subscriptions.model import BillingPeriod, PlanRef, Subscription

ZERO = Decimal(0)

PlanOf = Callable[[PlanRef], Plan]


@dataclass(frozen=True, slots=True)
class Giving:
    """The last usage span of a charge in one period: the window whose usage decides the
    carry, the charge there (with its ``rollover``), the span's own allowance, and whether
    the span starts its period (only then did it receive a carry itself)."""

    start: datetime
    end: datetime
    charge: UsageCharge
    own: Decimal
    first: bool


def carry_out(own: Decimal, carried_in: Decimal, used: Decimal, cap: Decimal) -> Decimal:
    """Units of a period's own allowance ``own`` left unused after ``used`` units, the
    ``carried_in`` units having been consumed first; at most ``cap``. Never negative."""
    own_consumed = min(own, max(ZERO, used - carried_in))
    return max(ZERO, min(cap, own - own_consumed))


def chain(
    subscription: Subscription, period: BillingPeriod, key: str, plan_of: PlanOf
) -> list[Giving]:
    """The spans whose usage decides the carry of charge ``key`` into ``period``, nearest
    first (empty: nothing carries in). Walks back while a period gave from a span that
    also received."""
    earlier = _before(subscription, period)
    found: list[Giving] = []
    for candidate in reversed(earlier):
        giving = _last_span(subscription, candidate, key, plan_of)
        if giving is None:
            break
        found.append(giving)
        if not giving.first:
            break
    return found


def carried_in(links: Sequence[Giving], used: Sequence[Decimal]) -> Decimal:
    """The carry into the period after ``links[0]``: ``used[i]`` is the usage of
    ``links[i]``'s window. Replays the chain from its oldest link."""
    carried = ZERO
    for index in range(len(links) - 1, -1, -1):
        link = links[index]
        assert link.charge.rollover is not None  # chain keeps only charges with rollover
        received = carried if link.first else ZERO
        carried = carry_out(link.own, received, used[index], link.charge.rollover.max)
    return carried


def _before(subscription: Subscription, period: BillingPeriod) -> list[BillingPeriod]:
    earlier = []
    for candidate in subscription.periods():
        if candidate.index >= period.index:
            break
        earlier.append(candidate)
    return earlier


def _last_span(
    subscription: Subscription, period: BillingPeriod, key: str, plan_of: PlanOf
) -> Giving | None:
    spans = usage_spans(parts(subscription, period), period.full)
    if not spans:
        return None
    last = spans[-1]
    charge = next((c for c in plan_of(last.phase.plan).usage_charges if c.key == key), None)
    if charge is None or charge.rollover is None:
        return None
    own = scale_allowance(charge.included, last.scale)
    return Giving(last.start, last.end, charge, own, last.start == period.start)
