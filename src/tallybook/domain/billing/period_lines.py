"""What a subscription owes for one billing period: pure, from the schedule, the plans and
measured usage (standard library only; the services fetch the inputs).

The lines of a period (``period_lines``) are computed from scratch every time, so a draft
is recomputed on each billing run, and a final period can be recomputed to bill a late
event's difference (``adjustments.adjustment_lines``). Usage is read through
``UsageQuery`` values: the caller collects them (``usage_queries``), fetches them in bulk
and passes the answers back in a mapping. When each period is invoiced is
``domain.billing.schedule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.proration import (
    Part,
    advance_changes,
    fee_spans,
    fraction,
    fraction_label,
    parts,
    scale_allowance,
    usage_spans,
)
from tallybook.domain.billing.rollover import Giving, carried_in, chain
from tallybook.domain.catalog.model import (
    FlatCharge,
    Plan,
    PricingModel,
    Timing,
    UsageCharge,
)
from tallybook.domain.errors import NotFound
from tallybook.domain.governance.overrides import OverriddenPlans
from tallybook.domain.pricing.rating import minimum_spend_true_up, rate_flat, rate_usage
from tallybook.domain.subscriptions.model import BillingPeriod, PlanRef, Subscription

ONE = Decimal(1)
ZERO = Decimal(0)
TRUE_UP_CHARGE = "minimum_spend"


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """One meter over ``[start, end)`` for one customer (grouped, or per event, if asked)."""

    meter: str
    start: datetime
    end: datetime
    group_by: str | None = None
    per_event: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    total: Decimal = ZERO
    by_dimension: Mapping[str, Decimal] | None = None
    event_values: tuple[Decimal, ...] | None = None


Plans = Mapping[PlanRef, Plan]
UsageData = Mapping[UsageQuery, Usage]


@dataclass(frozen=True, slots=True)
class PeriodLines:
    """Every line whose service period is in one billing period.

    ``advance`` holds the in-advance fees for the period as billed before it starts
    (on the opening invoice or the previous period's invoice); the rest is billed when
    the period closes.
    """

    advance: tuple[Line, ...]
    changes: tuple[Line, ...]
    arrears: tuple[Line, ...]
    usage: tuple[Line, ...]
    true_up: Line | None

    @property
    def at_close(self) -> list[Line]:
        lines = [*self.changes, *self.arrears, *self.usage]
        return lines if self.true_up is None else [*lines, self.true_up]

    @property
    def all(self) -> list[Line]:
        return [*self.advance, *self.at_close]


def plan_for(plans: Plans, ref: PlanRef) -> Plan:
    try:
        return plans[ref]
    except KeyError:
        raise NotFound(
            f"plan {ref.key!r} version {ref.version} is not in the catalog",
            code="plan_not_found",
            details={"plan": ref.key, "version": ref.version},
        ) from None


# -- the lines of one period ------------------------------------------------------------


def usage_queries(
    subscription: Subscription, period: BillingPeriod, plans: Plans
) -> list[UsageQuery]:
    """The usage a period's lines need: each usage span's, and the earlier windows that
    decide what its allowances carry in (``rollover``)."""
    queries = []
    for span in usage_spans(parts(subscription, period), period.full):
        for charge in plan_for(plans, span.phase.plan).usage_charges:
            queries.append(_query(charge, span.start, span.end))
    for links in _rollover_links(subscription, period, plans).values():
        queries += [_query(link.charge, link.start, link.end) for link in links]
    return queries


def _rollover_links(
    subscription: Subscription, period: BillingPeriod, plans: Plans
) -> dict[str, list[Giving]]:
    """Per usage charge of the plan at the period's start: the spans deciding its carry."""
    charges = {
        charge.key
        for phase in subscription.phases
        for charge in plan_for(plans, phase.plan).usage_charges
        if charge.rollover is not None
    }
    if not charges or period.index == 0:
        return {}
    links = {}
    for key in sorted(charges):
        found = chain(subscription, period, key, lambda ref: plan_for(plans, ref))
        if found:
            links[key] = found
    return links


def _query(charge: UsageCharge, start: datetime, end: datetime) -> UsageQuery:
    per_event = charge.price.model is PricingModel.PERCENTAGE and charge.dimension is None
    return UsageQuery(charge.meter, start, end, charge.dimension, per_event)


def priced(subscription: Subscription, period: BillingPeriod, plans: Plans) -> Plans:
    """The plan book a period is priced with: the subscription's price overrides in force
    at the period start applied (``domain.governance.overrides``), else ``plans``."""
    if not subscription.overrides:
        return plans
    return OverriddenPlans(plans, subscription.overrides, period.start)


def period_lines(
    subscription: Subscription, period: BillingPeriod, plans: Plans, usage: UsageData
) -> PeriodLines:
    plans = priced(subscription, period, plans)
    period_parts = parts(subscription, period)
    currency = subscription.currency
    advance = tuple(advance_lines(subscription, period, plans))
    changes = tuple(_change_lines(subscription, period_parts, period, plans))
    arrears = tuple(_arrears_lines(period_parts, period, plans, currency))
    used = tuple(_usage_lines(subscription, period_parts, period, plans, usage, currency))
    true_up = _true_up(period_parts, period, plans, [*advance, *changes, *arrears, *used], currency)
    return PeriodLines(advance, changes, arrears, used, true_up)


def advance_lines(subscription: Subscription, period: BillingPeriod, plans: Plans) -> list[Line]:
    """In-advance fees for ``period``, billed before it starts, for the time until its
    planned end (a later cancellation credits the unused rest)."""
    plan = plan_for(priced(subscription, period, plans), subscription.phase_at(period.start).plan)
    quantities = subscription.quantities_at(period.start)
    return [
        _fee(charge, quantities, period.start, period.full.end, period, subscription.currency)
        for charge in plan.flat_charges
        if charge.timing is Timing.IN_ADVANCE
    ]


def _change_lines(
    subscription: Subscription, period_parts: list[Part], period: BillingPeriod, plans: Plans
) -> list[Line]:
    """Credit the old and charge the new in-advance fees for the rest of the period at
    each prorated change, and credit the unused rest when the period ends early (a
    cancellation, or a change of billing cycle)."""
    currency = subscription.currency
    reason = (
        "Unused time before the billing cycle change"
        if subscription.changes_cycle_at(period.end)
        else "Unused time after cancellation"
    )
    lines: list[Line] = []
    billed = period_parts[0] if period_parts else None
    for before, after in advance_changes(period_parts):
        lines += _reprice(before, after, after.start, period, plans, currency)
        billed = after
    if billed is not None and period.end < period.full.end:
        for charge in _advance_charges(plan_for(plans, billed.phase.plan)):
            fee = _fee(charge, billed.quantities, period.end, period.full.end, period, currency)
            lines.append(_credit(fee, reason))
    return lines


def _reprice(
    before: Part, after: Part, at: datetime, period: BillingPeriod, plans: Plans, currency: str
) -> list[Line]:
    old = {c.key: c for c in _advance_charges(plan_for(plans, before.phase.plan))}
    new = {c.key: c for c in _advance_charges(plan_for(plans, after.phase.plan))}
    lines: list[Line] = []
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        if was is not None and now is not None and _same_price(was, now):
            lines += _seat_change(now, before, after, at, period, currency)
            continue
        if was is not None:
            fee = _fee(was, before.quantities, at, period.full.end, period, currency)
            lines.append(_credit(fee, "Unused time on the previous plan"))
        if now is not None:
            fee = _fee(now, after.quantities, at, period.full.end, period, currency)
            lines.append(
                replace(fee, type=LineType.PRORATION, description=f"New plan: {fee.description}")
            )
    return lines


def _same_price(was: FlatCharge, now: FlatCharge) -> bool:
    return (was.amount, was.unit_amount, was.quantity_key) == (
        now.amount,
        now.unit_amount,
        now.quantity_key,
    )


def _seat_change(
    charge: FlatCharge,
    before: Part,
    after: Part,
    at: datetime,
    period: BillingPeriod,
    currency: str,
) -> list[Line]:
    if not charge.is_licensed:
        return []
    old, new = _quantity(charge, before.quantities), _quantity(charge, after.quantities)
    if old == new:
        return []
    delta = {charge.quantity_key or "": abs(new - old)}
    fee = _fee(charge, delta, at, period.full.end, period, currency)
    name = charge.name or charge.key
    when = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        replace(
            fee,
            type=LineType.PRORATION,
            quantity=new - old,
            amount=fee.amount if new > old else -fee.amount,
            description=f"{name}: {_plain(old)} -> {_plain(new)} from {when}; {fee.description}",
        )
    ]


def _arrears_lines(
    period_parts: list[Part], period: BillingPeriod, plans: Plans, currency: str
) -> list[Line]:
    """In-arrears fees per stretch of the period with the same fee (same charge price and
    quantity): a seat change splits a per-seat fee, never a fixed one."""
    stretches: dict[str, list[tuple[FlatCharge, Mapping[str, Decimal], datetime, datetime]]] = {}
    for span in fee_spans(period_parts):
        for charge in plan_for(plans, span.phase.plan).flat_charges:
            if charge.timing is not Timing.IN_ARREARS:
                continue
            runs = stretches.setdefault(charge.key, [])
            last = runs[-1] if runs else None
            if (
                last is not None
                and last[3] == span.start
                and _same_price(last[0], charge)
                and _quantity(charge, last[1]) == _quantity(charge, span.quantities)
            ):
                runs[-1] = (last[0], last[1], last[2], span.end)
            else:
                runs.append((charge, span.quantities, span.start, span.end))
    return [
        _fee(charge, quantities, start, end, period, currency)
        for runs in stretches.values()
        for charge, quantities, start, end in runs
    ]


def _usage_lines(
    subscription: Subscription,
    period_parts: list[Part],
    period: BillingPeriod,
    plans: Plans,
    usage: UsageData,
    currency: str,
) -> list[Line]:
    lines: list[Line] = []
    carried = _carried(subscription, period, plans, usage)
    for span in usage_spans(period_parts, period.full):
        for charge in plan_for(plans, span.phase.plan).usage_charges:
            measured = usage.get(_query(charge, span.start, span.end), Usage())
            carry = carried.get(charge.key, ZERO) if span.start == period.start else ZERO
            rated = rate_usage(
                charge,
                measured.total,
                currency,
                event_values=measured.event_values,
                by_dimension=measured.by_dimension,
                allowance=scale_allowance(charge.included, span.scale) + carry,
            )
            if carry:
                rated = [_rolled_over(rated[0], carry), *rated[1:]]
            lines += [line.for_period(span.start, span.end) for line in rated]
    return lines


def _carried(
    subscription: Subscription, period: BillingPeriod, plans: Plans, usage: UsageData
) -> dict[str, Decimal]:
    """Units carried into ``period`` per usage charge key (``domain.billing.rollover``)."""
    carried = {}
    for key, links in _rollover_links(subscription, period, plans).items():
        used = [usage.get(_query(x.charge, x.start, x.end), Usage()).total for x in links]
        carried[key] = carried_in(links, used)
    return carried


def _rolled_over(line: Line, carry: Decimal) -> Line:
    text = f"{line.description}; includes {_plain(carry)} rolled over from the previous period"
    return replace(line, rolled_over=carry, description=text)


def _true_up(
    period_parts: list[Part],
    period: BillingPeriod,
    plans: Plans,
    lines: Sequence[Line],
    currency: str,
) -> Line | None:
    minimums = {p.phase.plan: plan_for(plans, p.phase.plan).minimum_spend for p in period_parts}
    if not any(minimums.values()):
        return None
    if len(minimums) == 1:
        minimum = next(iter(minimums.values()))
        share = period.fraction
        label = fraction_label(period.start, period.end, period.full) if share != ONE else None
    else:
        minimum = sum(
            (minimums[p.phase.plan] * fraction(p.start, p.end, period.full) for p in period_parts),
            ZERO,
        )
        share, label = ONE, None
    line = minimum_spend_true_up(
        minimum, lines, currency, fraction=share, fraction_label=label, charge=TRUE_UP_CHARGE
    )
    return None if line is None else line.for_period(period.start, period.end)


# -- helpers ----------------------------------------------------------------------------


def _advance_charges(plan: Plan) -> list[FlatCharge]:
    return [c for c in plan.flat_charges if c.timing is Timing.IN_ADVANCE]


def _quantity(charge: FlatCharge, quantities: Mapping[str, Decimal]) -> Decimal:
    if charge.quantity_key is None:
        return ONE
    return quantities.get(charge.quantity_key, ONE)


def _fee(
    charge: FlatCharge,
    quantities: Mapping[str, Decimal],
    start: datetime,
    end: datetime,
    period: BillingPeriod,
    currency: str,
) -> Line:
    share = fraction(start, end, period.full)
    label = fraction_label(start, end, period.full) if share != ONE else None
    quantity = _quantity(charge, quantities) if charge.is_licensed else None
    line = rate_flat(charge, currency, quantity=quantity, fraction=share, fraction_label=label)
    return line.for_period(start, end)


def _credit(fee: Line, reason: str) -> Line:
    return replace(
        fee,
        type=LineType.PRORATION,
        amount=-fee.amount,
        description=f"{reason}: {fee.description}",
    )


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != value.to_integral_value() else f"{int(value)}"
