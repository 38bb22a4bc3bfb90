"""Subscriptions: create (backdated too), change plan, set seats, cancel, add discounts.

Each change is validated against the catalog here, applied to the pure value
(``domain.subscriptions.model``) under the row's lock, and refused when it would touch a
final invoice (``period_finalized``). One subscription per customer at a time: usage
belongs to the subscription active at the event's time, so two overlapping ones would
bill the same events twice (``subscription_exists``; change the plan instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.schedule import billed_ahead, next_issue_at
from tallybook.domain.catalog.model import Plan
from tallybook.domain.errors import Conflict, CurrencyMismatch, NotFound, ValidationError
from tallybook.domain.governance.changes import ScheduledVersion, new_subscription_phases
from tallybook.domain.governance.overrides import ChargeOverride
from tallybook.domain.ids import new_id
from tallybook.domain.money import round_amount
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    CancelMode,
    Customer,
    Discount,
    DiscountKind,
    FeeProration,
    Phase,
    PlanRef,
    QuantityChange,
    Subscription,
    check_not_billed,
    trial_end,
)
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.archiving import check_customer_open
from tallybook.services.billing.invoices import PlanBook
from tallybook.services.customers import CustomerService, check_text, customer_not_found
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import Clock, PlanReader, SubscriptionStore
from tallybook.services.shared_reads import remembered, sharing

MAX_QUANTITY = Decimal(1_000_000_000)
MAX_TRIAL_DAYS = 3650
# Called with (tenant, bill-to customer) after an immediate cancellation or a billing-cycle
# change that has taken effect: its invoice is made at once.
AfterEnd = Callable[[str, str], object]
# Called with (tenant, plan key) before a new subscription or a plan change to it; raises
# ``Conflict`` ``plan_archived`` when the plan takes no new subscriptions.
PlanGate = Callable[[str, str], None]
# Called with (tenant, experiment key, customer) for "experiment:<key>" plans: the plan key.
ExperimentPlan = Callable[[str, str, str], str]
EXPERIMENT_PREFIX = "experiment:"
# Called with (tenant, customer): the customer's price overrides, copied into a new
# subscription of it (``services.overrides``).
CustomerOverrides = Callable[[str, str], Sequence[ChargeOverride]]
# Called with (tenant, plan key): the plan's approved catalog changes
# (``GovernanceService.plan_schedule``), so a new subscription starts on the version in
# force at its start.
PlanSchedule = Callable[[str, str], Sequence[ScheduledVersion]]


@dataclass(frozen=True, slots=True)
class DiscountSpec:
    kind: DiscountKind
    value: Decimal
    periods: int | None = None
    description: str | None = None
    start: datetime | None = None  # default: the subscription's billing start (or now)


class SubscriptionService:
    def __init__(
        self,
        store: SubscriptionStore,
        customers: CustomerService,
        plans: PlanReader,
        clock: Clock,
        after_end: AfterEnd | None = None,
        plan_gate: PlanGate | None = None,
        experiment_plan: ExperimentPlan | None = None,
    ):
        self._store = store
        self.plan_gate = plan_gate
        self._customers = customers
        self._plans = plans
        self._clock = clock
        self.after_end = after_end
        self.experiment_plan = experiment_plan
        self.customer_overrides: CustomerOverrides | None = None
        self.plan_schedule: PlanSchedule | None = None

    # -- reads --------------------------------------------------------------------------

    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription:
        found = self._store.get(tenant_id, subscription_id)
        if found is None:
            raise NotFound(
                f"no subscription {subscription_id!r}",
                code="subscription_not_found",
                details={"subscription": subscription_id},
            )
        return found

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        limit: int = 50,
        starting_after: str | None = None,
    ) -> Sequence[StoredSubscription]:
        return self._store.page(
            tenant_id, customer=customer, limit=limit, starting_after=starting_after
        )

    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]:
        """Every subscription billed to ``account`` (its own and its children's)."""
        return list(
            remembered(
                ("subscriptions", tenant_id, account),
                lambda: tuple(self._store.of_account(tenant_id, account)),
            )
        )

    def customer_view(
        self, tenant_id: str, customer_id: str
    ) -> tuple[Customer, list[StoredSubscription]]:
        """The customer and every subscription billed to its account (its own and, for a
        bill-to customer, its children's) in one read: the per-request path of live usage
        and entitlement checks. NotFound ``customer_not_found``. Inside ``shared_reads``
        (a console page asking several services) it is the two shared reads instead, so
        that every service gets, and rates, the same objects once."""
        if sharing() and customer_id.isprintable():
            customer = self._customers.get(tenant_id, customer_id)
            return customer, self.of_account(tenant_id, customer.account)
        found, stored = (
            self._store.customer_view(tenant_id, customer_id)
            if customer_id.isprintable()  # no customer has such an id (NUL breaks SQL)
            else (None, [])
        )
        if found is None:
            raise customer_not_found(customer_id)
        return found, stored

    def list(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[StoredSubscription]:
        """A page of subscriptions by id. Raises ``invalid_limit`` / ``invalid_cursor``."""
        after = decode_cursor(cursor, (str,))
        rows = self._store.page(
            tenant_id,
            customer=customer,
            limit=check_limit(limit) + 1,
            starting_after=None if after is None else str(after[0]),
        )
        return page_of(rows, limit, lambda s: [s.subscription.id])

    # -- create -------------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        customer_id: str,
        plan_key: str,
        *,
        start: datetime | None = None,
        version: int | None = None,
        quantities: Mapping[str, Decimal] | None = None,
        trial_days: int | None = None,
        discounts: Sequence[DiscountSpec] = (),
    ) -> StoredSubscription:
        customer = self._customers.get(tenant_id, customer_id)
        check_customer_open(customer)
        if plan_key.startswith(EXPERIMENT_PREFIX) and self.experiment_plan is not None:
            key = plan_key.removeprefix(EXPERIMENT_PREFIX)
            plan_key, version = self.experiment_plan(tenant_id, key, customer.id), None
        plan = self._plans.get_plan(tenant_id, plan_key, version)
        if self.plan_gate is not None:
            self.plan_gate(tenant_id, plan.key)
        _check_currency(plan, customer.currency)
        start = start or self._clock.now()
        days = plan.trial_days if trial_days is None else trial_days
        if not 0 <= days <= MAX_TRIAL_DAYS:
            raise ValidationError(
                f"trial_days must be 0-{MAX_TRIAL_DAYS}", code="invalid_trial_days"
            )
        inherited = (
            self.customer_overrides(tenant_id, customer.id) if self.customer_overrides else ()
        )
        subscription = Subscription(
            id=new_id("sub"),
            customer=customer.id,
            currency=customer.currency,
            start=start,
            timezone=customer.timezone,
            interval=plan.interval,
            anchor=plan.billing_anchor,
            phases=(Phase(PlanRef(plan.key, plan.version), start),),
            quantities=(QuantityChange(start, _quantities(plan, quantities or {})),),
            trial_end=trial_end(start, days, customer.timezone),
            overrides=tuple(inherited),
        )
        if version is None and self.plan_schedule is not None:
            subscription = self._scheduled(tenant_id, plan, subscription)
        for spec in discounts:
            subscription = subscription.with_discount(_discount(spec, subscription))
        book = PlanBook(self._plans, tenant_id)
        upcoming = next_issue_at(subscription, book, None)
        now = self._clock.now()
        self._store.insert_exclusive(tenant_id, subscription, customer.account, upcoming, now)
        return StoredSubscription(subscription, customer.account, None, upcoming, now)

    def _scheduled(self, tenant_id: str, plan: Plan, sub: Subscription) -> Subscription:
        """``sub`` on the version in force at its start when approved catalog changes of
        its plan are still ahead (``domain.governance.changes.new_subscription_phases``);
        unchanged when a version in between bills on another cycle or currency."""
        assert self.plan_schedule is not None
        phases = new_subscription_phases(sub, self.plan_schedule(tenant_id, plan.key))
        if phases is None:
            return sub
        for phase in phases:
            other = self._plans.get_plan(tenant_id, plan.key, phase.plan.version)
            if (other.interval, other.billing_anchor, other.currency) != (
                plan.interval,
                plan.billing_anchor,
                plan.currency,
            ):
                return sub
        return replace(sub, phases=phases)

    # -- changes ------------------------------------------------------------------------

    def change_plan(
        self,
        tenant_id: str,
        subscription_id: str,
        plan_key: str,
        *,
        at: datetime | None = None,
        version: int | None = None,
        allowance_policy: AllowancePolicy = AllowancePolicy.PRORATE,
        fee_proration: FeeProration = FeeProration.PRORATE,
    ) -> StoredSubscription:
        """Move to ``plan_key`` (its latest version unless ``version``) from ``at``. The
        same key with a newer version migrates the subscription to that version."""
        when, change = self._plan_change(
            tenant_id, subscription_id, plan_key, at, version, allowance_policy, fee_proration
        )
        stored = self._change(tenant_id, subscription_id, change)
        cut = stored.subscription.changes_cycle_at(when)
        if cut and when <= self._clock.now() and self.after_end is not None:
            self.after_end(tenant_id, stored.account)  # both invoices at once
        return stored

    def preview_change_plan(
        self,
        tenant_id: str,
        subscription_id: str,
        plan_key: str,
        *,
        at: datetime | None = None,
        version: int | None = None,
        allowance_policy: AllowancePolicy = AllowancePolicy.PRORATE,
        fee_proration: FeeProration = FeeProration.PRORATE,
    ) -> Subscription:
        """The subscription ``change_plan`` with these arguments would store, checked by
        the same rules (same errors), without storing anything (the console's preview)."""
        _, change = self._plan_change(
            tenant_id, subscription_id, plan_key, at, version, allowance_policy, fee_proration
        )
        current = self.get(tenant_id, subscription_id)
        return change(current.subscription, current.billed_through)

    def _plan_change(
        self,
        tenant_id: str,
        subscription_id: str,
        plan_key: str,
        at: datetime | None,
        version: int | None,
        allowance_policy: AllowancePolicy,
        fee_proration: FeeProration,
    ) -> tuple[datetime, Callable[[Subscription, datetime | None], Subscription]]:
        plan = self._plans.get_plan(tenant_id, plan_key, version)
        when = at or self._clock.now()
        book = PlanBook(self._plans, tenant_id)
        if (
            self.plan_gate is not None
            and plan.key != self.get(tenant_id, subscription_id).subscription.plan.key
        ):
            self.plan_gate(tenant_id, plan.key)  # a newer version of its own plan is fine

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            _check_currency(plan, sub.currency)
            cycle = (plan.interval, plan.billing_anchor)
            new = sub.with_plan(
                PlanRef(plan.key, plan.version), when, allowance_policy, fee_proration, cycle
            )
            check_not_billed(when, through, billed_ahead=billed_ahead(sub, book, through))
            return new

        return when, change

    def set_quantities(
        self,
        tenant_id: str,
        subscription_id: str,
        quantities: Mapping[str, Decimal],
        *,
        at: datetime | None = None,
        fee_proration: FeeProration = FeeProration.PRORATE,
    ) -> StoredSubscription:
        when = at or self._clock.now()
        book = PlanBook(self._plans, tenant_id)

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            plan = book[sub.phase_at(when).plan]
            new = sub.with_quantities(when, _quantities(plan, quantities), fee_proration)
            check_not_billed(when, through, billed_ahead=billed_ahead(sub, book, through))
            return new

        return self._change(tenant_id, subscription_id, change)

    def cancel(
        self,
        tenant_id: str,
        subscription_id: str,
        *,
        at: datetime | None = None,
        mode: CancelMode = CancelMode.END_OF_PERIOD,
    ) -> StoredSubscription:
        now = self._clock.now()
        when = at or now
        book = PlanBook(self._plans, tenant_id)

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            new = sub.canceled(when, mode, now)
            # what changes is the schedule from the new end on (at period end: the end
            # of the period holding ``when``, which may be after a billed boundary)
            effective = when if new.end is None else new.end
            check_not_billed(effective, through, billed_ahead=billed_ahead(sub, book, through))
            return new

        stored = self._change(tenant_id, subscription_id, change, "subscription.canceled")
        if mode is CancelMode.IMMEDIATELY and self.after_end is not None:
            self.after_end(tenant_id, stored.account)
        return stored

    def add_discount(
        self, tenant_id: str, subscription_id: str, spec: DiscountSpec
    ) -> StoredSubscription:
        book = PlanBook(self._plans, tenant_id)

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            discount = _discount(spec, sub, default_start=self._clock.now())
            if discount.start > sub.billing_start:
                check_not_billed(
                    discount.start, through, billed_ahead=billed_ahead(sub, book, through)
                )
            return sub.with_discount(discount)

        return self._change(tenant_id, subscription_id, change)

    def add_override(
        self, tenant_id: str, subscription_id: str, override: ChargeOverride
    ) -> StoredSubscription:
        """Add a price override (``domain.governance.overrides``). Raises ``Conflict``
        ``override_overlap`` when one of the same level and charge overlaps it, and
        ``period_finalized`` when it would start inside a finalized period."""
        book = PlanBook(self._plans, tenant_id)

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            clash = next((o for o in sub.overrides if o.overlaps(override)), None)
            if clash is not None:
                raise Conflict(
                    f"override {clash.id} of charge {override.charge!r} at this level "
                    "overlaps that time",
                    code="override_overlap",
                    details={"override": clash.id, "charge": override.charge},
                )
            check_not_billed(override.start, through, billed_ahead=billed_ahead(sub, book, through))
            return replace(sub, overrides=(*sub.overrides, override))

        return self._change(tenant_id, subscription_id, change)

    def end_override(
        self, tenant_id: str, subscription_id: str, override_id: str, at: datetime
    ) -> StoredSubscription:
        """End an override at ``at`` (or at the last finalized boundary, when later); one
        that has not started by then is removed. ``NotFound`` ``override_not_found``."""

        def change(sub: Subscription, through: datetime | None) -> Subscription:
            found = next((o for o in sub.overrides if o.id == override_id), None)
            if found is None:
                raise NotFound(
                    f"no override {override_id!r}",
                    code="override_not_found",
                    details={"override": override_id[:64]},
                )
            when = max(at, through) if through is not None else at
            kept = tuple(o for o in sub.overrides if o.id != override_id)
            if found.start >= when:
                return replace(sub, overrides=kept)
            if found.end is not None and found.end <= when:
                return sub
            return replace(sub, overrides=(*kept, replace(found, end=when)))

        return self._change(tenant_id, subscription_id, change)

    def _change(
        self,
        tenant_id: str,
        subscription_id: str,
        change: Callable[[Subscription, datetime | None], Subscription],
        event_type: str = "subscription.changed",
    ) -> StoredSubscription:
        book = PlanBook(self._plans, tenant_id)

        with self._store.locked(tenant_id, subscription_id, self._clock.now()) as uow:
            current = uow.current
            new = change(current.subscription, current.billed_through)
            next_issue = next_issue_at(new, book, current.billed_through)
            uow.save(new, next_issue, event_type)
        return StoredSubscription(
            new, current.account, current.billed_through, next_issue, current.created_at
        )


# -- validation -------------------------------------------------------------------------


def _check_currency(plan: Plan, currency: str) -> None:
    if plan.currency != currency:
        raise CurrencyMismatch(
            f"plan {plan.key!r} bills in {plan.currency}, the customer in {currency}",
            details={"plan": plan.currency, "customer": currency},
        )


def _quantities(plan: Plan, quantities: Mapping[str, Decimal]) -> dict[str, Decimal]:
    keys = {c.quantity_key for c in plan.flat_charges if c.quantity_key is not None}
    unknown = sorted(set(quantities) - keys)
    if unknown:
        raise ValidationError(
            f"plan {plan.key!r} has no licensed quantity {unknown[0]!r} "
            f"(it has: {', '.join(sorted(keys)) or 'none'})",
            code="unknown_quantity_key",
            details={"unknown": unknown, "known": sorted(keys)},
        )
    for key, value in quantities.items():
        if not ZERO <= value <= MAX_QUANTITY:
            raise ValidationError(
                f"quantity {key!r} must be between 0 and {MAX_QUANTITY}",
                code="invalid_quantity",
            )
    return dict(quantities)


ZERO = Decimal(0)


def _next_period_start(sub: Subscription, now: datetime | None) -> datetime:
    """Where a discount added ``now`` starts: the next period (billing start if not begun)."""
    if now is None or now < sub.billing_start:
        return sub.billing_start
    period = sub.period_at(now)
    return period.end if period is not None else now


def _discount(
    spec: DiscountSpec, sub: Subscription, default_start: datetime | None = None
) -> Discount:
    if spec.kind is DiscountKind.PERCENT and not ZERO < spec.value <= 100:
        raise ValidationError("a percent discount must be in (0, 100]", code="invalid_discount")
    fixed = spec.kind is DiscountKind.FIXED
    if fixed and (spec.value <= 0 or spec.value != round_amount(spec.value, sub.currency)):
        raise ValidationError(
            f"a fixed discount must be a positive {sub.currency} amount",
            code="invalid_discount",
        )
    check_text(spec.description, "description")
    if spec.periods is not None and spec.periods < 1:
        raise ValidationError("discount periods must be at least 1", code="invalid_discount")
    start = spec.start or _next_period_start(sub, default_start)
    return Discount(
        id=new_id("dsc"),
        kind=spec.kind,
        value=spec.value,
        start=start,
        periods=spec.periods,
        description=spec.description,
    )
