"""Splitting a billing period where a subscription changed, and scaling by time.

A period is cut wherever the plan phase or the licensed quantities change; each *part*
has one plan and one set of quantities. From the parts:

- **usage spans** (``usage_spans``): the windows whose usage is rated on one plan, with
  the allowance scale the contract's policies give them. A ``retroactive`` change merges
  the parts before it (in the same period) into the new plan's span. A span's allowance
  is scaled by the share of the whole period between its *edges*: its own start and end,
  except that a ``cutover`` change on a side moves that edge to the whole period's edge
  (a full, unscaled allowance). So ``prorate`` gives ``included x share of time``,
  ``cutover`` the full allowance on both sides, and a partial period (calendar start,
  cancellation) its share of time.
- **fee spans** (``fee_spans``): the windows whose in-arrears flat fees are charged on
  one plan and quantity set. A change with ``fee_proration: none`` merges the part
  before it into the new part (the fee in force at the end of the period applies).
- **advance changes** (``advance_changes``): each change with ``fee_proration: prorate``
  re-prices the in-advance fees for the rest of the period (credit old, charge new).

Fractions are exact (``periods.time_fraction``); a scaled allowance keeps 6 decimal
places (``scale_allowance``), so descriptions stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise

from tallybook.domain.money import normalize
from tallybook.domain.periods import Period, time_fraction
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    BillingPeriod,
    FeeProration,
    Phase,
    Subscription,
)

ONE = Decimal(1)
ALLOWANCE_QUANTUM = Decimal("0.000001")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Part:
    """``[start, end)`` of a period with one phase and one set of quantities.

    ``fee_change`` is how the change that starts this part treats flat fees (None for
    the first part of the period); ``plan_change`` says the phase changed there.
    """

    start: datetime
    end: datetime
    phase: Phase
    quantities: Mapping[str, Decimal]
    fee_change: FeeProration | None = None
    plan_change: bool = False


@dataclass(frozen=True, slots=True)
class UsageSpan:
    """Usage in ``[start, end)`` is rated on ``phase.plan`` with ``included x scale``."""

    phase: Phase
    start: datetime
    end: datetime
    scale: Decimal


def parts(subscription: Subscription, period: BillingPeriod) -> list[Part]:
    """The period cut at every plan or quantity change inside it, in order."""
    cuts: dict[datetime, FeeProration] = {}
    plan_cuts: set[datetime] = set()
    for phase in subscription.phases:
        if period.start < phase.start < period.end:
            cuts[phase.start] = phase.fee_proration
            plan_cuts.add(phase.start)
    for change in subscription.quantities:
        if period.start < change.at < period.end:
            cuts.setdefault(change.at, change.fee_proration)
    edges = [period.start, *sorted(cuts), period.end]
    result = []
    for start, end in pairwise(edges):
        result.append(
            Part(
                start,
                end,
                subscription.phase_at(start),
                subscription.quantities_at(start),
                cuts.get(start),
                start in plan_cuts,
            )
        )
    return result


def usage_spans(period_parts: list[Part], full: Period) -> list[UsageSpan]:
    """Usage windows and allowance scales under the allowance policies (module doc)."""
    groups: list[tuple[Phase, datetime, datetime, AllowancePolicy | None]] = []
    for part in period_parts:
        if groups and groups[-1][0] == part.phase:
            phase, start, _, left = groups.pop()
            groups.append((phase, start, part.end, left))
            continue
        policy = part.phase.allowance_policy if part.plan_change else None
        if groups and policy is AllowancePolicy.RETROACTIVE:
            _, start, _, left = groups.pop()
            groups.append((part.phase, start, part.end, left))
        else:
            groups.append((part.phase, part.start, part.end, policy))
    spans = []
    for index, (phase, start, end, left) in enumerate(groups):
        right = groups[index + 1][3] if index + 1 < len(groups) else None
        left_edge = full.start if left is AllowancePolicy.CUTOVER else start
        right_edge = full.end if right is AllowancePolicy.CUTOVER else end
        spans.append(UsageSpan(phase, start, end, _fraction(left_edge, right_edge, full)))
    return spans


def fee_spans(period_parts: list[Part]) -> list[Part]:
    """Parts for in-arrears fees: a ``none`` change folds the part before it into its own."""
    spans: list[Part] = []
    for part in period_parts:
        if spans and part.fee_change is FeeProration.NONE:
            previous = spans.pop()
            part = replace(part, start=previous.start, fee_change=previous.fee_change)
        spans.append(part)
    return spans


def advance_changes(period_parts: list[Part]) -> list[tuple[Part, Part]]:
    """(before, after) pairs of every prorated change inside the period."""
    pairs = []
    current = period_parts[0] if period_parts else None
    for part in period_parts[1:]:
        if part.fee_change is FeeProration.PRORATE and current is not None:
            pairs.append((current, part))
            current = part
        elif current is not None:
            # an unprorated change: the fee billed for the period stands
            current = replace(current, end=part.end)
    return pairs


def fraction(start: datetime, end: datetime, full: Period) -> Decimal:
    return _fraction(start, end, full)


def _fraction(start: datetime, end: datetime, full: Period) -> Decimal:
    if start <= full.start and end >= full.end:
        return ONE
    return time_fraction(start, end, full.start, full.end)


def scale_allowance(included: Decimal, scale: Decimal) -> Decimal:
    """``included x scale``, kept to 6 decimal places (half-even), trailing zeros dropped."""
    if scale == ONE or included == 0:
        return included
    return normalize((included * scale).quantize(ALLOWANCE_QUANTUM, rounding=ROUND_HALF_EVEN))


def fraction_label(start: datetime, end: datetime, full: Period) -> str:
    """ "17/31 days" when both spans are whole days, else a percentage."""
    part, whole = min(end, full.end) - max(start, full.start), full.duration
    if part % _DAY == timedelta(0) and whole % _DAY == timedelta(0):
        return f"{part // _DAY}/{whole // _DAY} days"
    return f"{_fraction(start, end, full):.2%}"
