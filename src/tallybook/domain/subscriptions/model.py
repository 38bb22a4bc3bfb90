"""Subscriptions as values: a customer on a plan version from a start instant.

A subscription is a schedule, not a mutable record: *phases* (which plan version is in
force from when, and how the change into it treats allowances and flat fees), licensed
*quantities* over time (seats), *discounts*, an optional *trial* and an optional *end*.
Changing it returns a new value. Billing periods follow from the schedule:

- the periods begin at ``billing_start`` (the trial's end, or ``start`` without a trial)
  and repeat every plan ``interval`` in the customer's time zone; an anniversary
  (``subscription``) anchor repeats ``billing_start`` itself, a ``calendar`` anchor makes
  the first period partial, from ``billing_start`` to the next calendar boundary;
- an ``end`` (cancellation) truncates the period holding it, and no period follows;
- a *cycle change* (a plan change to another interval or anchor, ``CycleChange``) ends
  the period holding it at the change, and the periods go on from the change on the new
  cycle: a calendar anchor's first period runs to the next calendar boundary (partial), a
  subscription anchor restarts at the change (CONTRACT.md, customers and subscriptions).

Every period knows the whole calendar period it is part of (``full``), so partial
periods can be prorated by time, to the microsecond.

Policies that are decisions, documented in docs/billing.md:

- a change (plan, quantities, cancellation) at ``at`` replaces any change scheduled
  at or after ``at``;
- changes are rejected (``period_finalized``) before ``billed_through``, the last
  boundary whose invoice is final, because a final invoice never changes; exactly at it
  only when that invoice billed the next period in advance (``check_not_billed``);
- licensed quantities default to 1 (Stripe's default) when a plan needs one not set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING

from tallybook.domain.errors import Conflict, ValidationError
from tallybook.domain.finance.parties import NO_DETAILS, BuyerDetails
from tallybook.domain.periods import (
    Anchor,
    Interval,
    Period,
    billing_periods,
    period_anchor,
    period_containing,
    periods_from,
    time_fraction,
)

if TYPE_CHECKING:
    from tallybook.domain.governance.overrides import ChargeOverride

ONE = Decimal(1)


class AllowancePolicy(StrEnum):
    """How a mid-period plan change treats the usage allowances (CONTRACT.md)."""

    PRORATE = "prorate"  # each plan part gets its allowance scaled by its share of time
    RETROACTIVE = "retroactive"  # the new plan applies to the whole period
    CUTOVER = "cutover"  # each part keeps its plan's full allowance


class FeeProration(StrEnum):
    PRORATE = "prorate"  # flat fees by time, to the microsecond
    NONE = "none"  # the fee billed for the period stands; the new one applies next period


class CancelMode(StrEnum):
    IMMEDIATELY = "immediately"
    END_OF_PERIOD = "end_of_period"


class DiscountKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class Status(StrEnum):
    SCHEDULED = "scheduled"  # starts in the future
    TRIALING = "trialing"
    ACTIVE = "active"
    ENDING = "ending"  # canceled, end still ahead
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer of the tenant; ``parent`` is who it is billed to (one level deep)."""

    id: str
    currency: str
    timezone: str = "UTC"
    name: str | None = None
    email: str | None = None
    parent: str | None = None
    created_at: datetime | None = None
    archived_at: datetime | None = None  # archived: hidden from lists, no new subscriptions
    billing: BuyerDetails = NO_DETAILS  # invoice and tax details (domain.finance)

    @property
    def account(self) -> str:
        """The bill-to customer: the parent, or the customer itself."""
        return self.parent or self.id


@dataclass(frozen=True, slots=True)
class PlanRef:
    key: str
    version: int


@dataclass(frozen=True, slots=True)
class Phase:
    """A plan version in force from ``start``; the policies describe the change into it."""

    plan: PlanRef
    start: datetime
    allowance_policy: AllowancePolicy = AllowancePolicy.PRORATE
    fee_proration: FeeProration = FeeProration.PRORATE


@dataclass(frozen=True, slots=True)
class CycleChange:
    """The billing cycle (``interval``, ``anchor``) in force from ``at`` (after billing
    starts; before it, the subscription's own ``interval``/``anchor`` are replaced)."""

    at: datetime
    interval: Interval
    anchor: Anchor


@dataclass(frozen=True, slots=True)
class QuantityChange:
    """The licensed quantities in force from ``at`` (the full map, not a delta)."""

    at: datetime
    quantities: Mapping[str, Decimal]
    fee_proration: FeeProration = FeeProration.PRORATE


@dataclass(frozen=True, slots=True)
class Discount:
    """``percent`` (0-100] off, or a ``fixed`` amount off per period, for ``periods``
    billing periods starting with the one holding ``start`` (``None``: for ever)."""

    id: str
    kind: DiscountKind
    value: Decimal
    start: datetime
    periods: int | None = None
    description: str | None = None

    def covers(self, first_index: int, index: int) -> bool:
        """True if the period ``index`` is covered, the discount starting at ``first_index``."""
        if index < first_index:
            return False
        return self.periods is None or index < first_index + self.periods


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """One billing period ``[start, end)`` of a subscription, inside its whole ``full``
    calendar period (they differ for a partial first period and a truncated last one)."""

    index: int
    start: datetime
    end: datetime
    full: Period

    @property
    def fraction(self) -> Decimal:
        """Share of the whole period this one covers (1 for a whole period)."""
        if self.start == self.full.start and self.end == self.full.end:
            return ONE
        return time_fraction(self.start, self.end, self.full.start, self.full.end)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    customer: str
    currency: str
    start: datetime
    timezone: str
    interval: Interval
    anchor: Anchor
    phases: tuple[Phase, ...]
    quantities: tuple[QuantityChange, ...] = ()
    discounts: tuple[Discount, ...] = ()
    trial_end: datetime | None = None
    end: datetime | None = None
    cancel_mode: CancelMode | None = None
    canceled_at: datetime | None = None
    cycles: tuple[CycleChange, ...] = ()  # later billing cycles, in order
    # price overrides (its own and its customer's): ``domain.governance.overrides``
    overrides: tuple[ChargeOverride, ...] = ()

    # -- the schedule -----------------------------------------------------------------

    @property
    def billing_start(self) -> datetime:
        """Where billing periods begin: the end of the trial, or the start."""
        return self.trial_end if self.trial_end is not None else self.start

    @property
    def plan(self) -> PlanRef:
        """The plan version of the latest phase (the one in force from its start on)."""
        return self.phases[-1].plan

    def phase_at(self, instant: datetime) -> Phase:
        current = self.phases[0]
        for phase in self.phases:
            if phase.start > instant:
                break
            current = phase
        return current

    def cycle_at(self, instant: datetime) -> tuple[Interval, Anchor]:
        """The billing cycle (interval, anchor) in force at ``instant``."""
        current = (self.interval, self.anchor)
        for change in self.cycles:
            if change.at > instant:
                break
            current = (change.interval, change.anchor)
        return current

    def quantities_at(self, instant: datetime) -> Mapping[str, Decimal]:
        current: Mapping[str, Decimal] = {}
        for change in self.quantities:
            if change.at > instant:
                break
            current = change.quantities
        return current

    def status(self, now: datetime) -> Status:
        if self.end is not None and self.end <= now:
            return Status.ENDED
        if now < self.start:
            return Status.SCHEDULED
        if self.end is not None:
            return Status.ENDING
        if self.trial_end is not None and now < self.trial_end:
            return Status.TRIALING
        return Status.ACTIVE

    # -- periods ----------------------------------------------------------------------

    def periods(self) -> Iterator[BillingPeriod]:
        """Every billing period in order (endless unless the subscription ends), across
        cycle changes: the period holding a change ends there (``full`` stays the whole
        period of the old cycle, so it is prorated like a cancellation)."""
        if self.end is not None and self.end <= self.billing_start:
            return
        index = 0
        for start, stop, interval, anchor in self._segments():
            if self.end is not None:
                stop = self.end if stop is None else min(stop, self.end)
            for period, full in _sequence(start, anchor, interval, self.timezone):
                if stop is not None and period.start >= stop:
                    break
                end = period.end if stop is None else min(period.end, stop)
                yield BillingPeriod(index, period.start, end, full)
                index += 1
            if stop is None or stop == self.end:
                return

    def _segments(self) -> list[tuple[datetime, datetime | None, Interval, Anchor]]:
        """``(start, stop, interval, anchor)`` per billing cycle; the last has no stop."""
        segments: list[tuple[datetime, datetime | None, Interval, Anchor]] = []
        start, interval, anchor = self.billing_start, self.interval, self.anchor
        for change in self.cycles:
            if change.at <= start:
                interval, anchor = change.interval, change.anchor
                continue
            segments.append((start, change.at, interval, anchor))
            start, interval, anchor = change.at, change.interval, change.anchor
        segments.append((start, None, interval, anchor))
        return segments

    def periods_until(self, until: datetime) -> list[BillingPeriod]:
        """The periods that have ended at or before ``until``."""
        closed = []
        for period in self.periods():
            if period.end > until:
                break
            closed.append(period)
        return closed

    def period_at(self, instant: datetime) -> BillingPeriod | None:
        """The billing period holding ``instant`` (None before billing starts or after end)."""
        if instant < self.billing_start:
            return None
        for period in self.periods():
            if period.start > instant:
                return None
            if period.contains(instant):
                return period
        return None

    def next_period(self, period: BillingPeriod) -> BillingPeriod | None:
        """The period after ``period`` (None when the subscription ends with it)."""
        return next(islice(self.periods(), period.index + 1, None), None)

    def discount_first_index(self, discount: Discount) -> int:
        """Index of the first period a discount covers (0 if it starts before billing)."""
        if discount.start <= self.billing_start:
            return 0
        period = self.period_at(discount.start)
        if period is not None:
            return period.index
        return 1 << 30  # starts after the end: covers nothing

    # -- changes (each returns a new value) ---------------------------------------------

    def with_plan(
        self,
        plan: PlanRef,
        at: datetime,
        allowance_policy: AllowancePolicy,
        fee_proration: FeeProration,
        cycle: tuple[Interval, Anchor] | None = None,
    ) -> Subscription:
        """The plan ``plan`` from ``at``. ``cycle`` is the new plan's (interval, anchor):
        when it differs from the one in force, the period holding ``at`` ends at ``at``
        and billing goes on from ``at`` on the new cycle (``CycleChange``)."""
        self._check_change_time(at)
        kept = tuple(p for p in self.phases if p.start < at)
        if not kept:
            raise ValidationError(
                "a plan change must come after the subscription start",
                code="invalid_change_time",
            )
        if kept[-1].plan == plan:
            raise Conflict(
                f"the subscription is already on {plan.key} version {plan.version} at {at}",
                code="already_on_plan",
            )
        phase = Phase(plan, at, allowance_policy, fee_proration)
        changed = replace(
            self, phases=(*kept, phase), cycles=tuple(c for c in self.cycles if c.at < at)
        )
        if cycle is None or cycle == changed.cycle_at(at):
            return changed
        if at <= changed.billing_start:  # no period yet: bill on the new cycle from the start
            return replace(changed, interval=cycle[0], anchor=cycle[1], cycles=())
        return replace(changed, cycles=(*changed.cycles, CycleChange(at, *cycle)))

    def changes_cycle_at(self, at: datetime) -> bool:
        """True if a cycle change takes effect at exactly ``at`` (a period ends there)."""
        return any(c.at == at for c in self.cycles)

    def with_quantities(
        self, at: datetime, quantities: Mapping[str, Decimal], fee_proration: FeeProration
    ) -> Subscription:
        self._check_change_time(at, allow_start=True)
        merged = {**self.quantities_at(at), **quantities}
        kept = tuple(q for q in self.quantities if q.at < at)
        return replace(self, quantities=(*kept, QuantityChange(at, merged, fee_proration)))

    def canceled(self, at: datetime, mode: CancelMode, requested_at: datetime) -> Subscription:
        if self.end is not None and self.end <= at:
            raise Conflict(f"the subscription already ends at {self.end}", code="already_ended")
        if at < self.start:
            raise ValidationError(
                "a cancellation cannot come before the subscription start",
                code="invalid_change_time",
            )
        end = at if mode is CancelMode.IMMEDIATELY else self._period_end_after(at)
        return replace(self, end=end, cancel_mode=mode, canceled_at=requested_at)

    def with_discount(self, discount: Discount) -> Subscription:
        return replace(self, discounts=(*self.discounts, discount))

    def _period_end_after(self, at: datetime) -> datetime:
        """End of the period holding ``at`` (the trial's end during a trial)."""
        if at < self.billing_start:
            return self.billing_start
        period = self.period_at(at)
        return period.end if period is not None else at

    def _check_change_time(self, at: datetime, *, allow_start: bool = False) -> None:
        if at < self.start or (at == self.start and not allow_start):
            raise ValidationError(
                "a change must come after the subscription start",
                code="invalid_change_time",
                details={"start": self.start.isoformat(), "at": at.isoformat()},
            )
        if self.end is not None and at >= self.end:
            raise Conflict(
                f"the subscription ends at {self.end.isoformat()}", code="subscription_ended"
            )


def _sequence(
    start: datetime, anchor: Anchor, interval: Interval, tz: str
) -> Iterator[tuple[Period, Period]]:
    """The endless (period, whole period) pairs of one cycle from ``start``."""
    count, index = 8, 0
    while True:
        prefix = _periods_prefix(start, anchor, interval, tz, count)
        yield from prefix[index:]
        index = len(prefix)
        count *= 4


@lru_cache(maxsize=8192)
def _periods_prefix(
    start: datetime, anchor: Anchor, interval: Interval, tz: str, count: int
) -> tuple[tuple[Period, Period], ...]:
    """The first ``count`` (period, whole period) pairs of a sequence, cached: billing
    runs walk the same sequences (every calendar subscription starting on the 1st)."""
    first = period_anchor(start, anchor, interval, tz)
    pairs = []
    for index, period in enumerate(billing_periods(start, anchor=anchor, interval=interval, tz=tz)):
        if index >= count:
            break
        full = period
        if index == 0 and period.start != first:
            full = period_containing(period.start, anchor=first, interval=interval, tz=tz)
        pairs.append((period, full))
    return tuple(pairs)


def check_not_billed(
    at: datetime, billed_through: datetime | None, *, billed_ahead: bool = True
) -> None:
    """Refuse (``period_finalized``) a change at ``at`` that would alter a final invoice.

    Periods are half-open ``[start, end)``: the final invoice issued at ``billed_through``
    closes the period ending there, so a change at exactly ``billed_through`` touches it
    only when that invoice also billed the period starting there in advance
    (``billed_ahead``: in-advance fees, or an opening invoice). ``at < billed_through``
    is always refused.
    """
    if billed_through is None:
        return
    if at < billed_through or (at == billed_through and billed_ahead):
        raise Conflict(
            f"{at.isoformat()} is in a period whose invoice is final "
            f"(billed through {billed_through.isoformat()}); changes must come later",
            code="period_finalized",
            details={"billed_through": billed_through.isoformat()},
        )


def trial_end(start: datetime, trial_days: int, tz: str) -> datetime | None:
    """``trial_days`` whole days after ``start`` in the customer's wall clock (None if 0)."""
    if trial_days <= 0:
        return None
    days = periods_from(start, Interval.DAY, tz)
    return next(islice(days, trial_days - 1, None)).end
