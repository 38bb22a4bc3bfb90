"""Entitlement checks, lists and per-customer overrides (CONTRACT.md Part 2).

The rules are ``domain.entitlements``; this service gathers their inputs:

- the customer's subscription live now (started, not ended; a trial counts) and the plan
  version of its phase in force now;
- the tenant's features: the latest version of every plan, plus the customer's own plan
  version (so a feature a customer's older plan version still lists is known). A key
  no plan defines is ``404 feature_not_found``. The latest plans are read only when the
  key is not in the customer's own plan version (``_Features``): a check of a feature
  the customer's plan lists costs no catalog-wide read;
- the customer's override of the feature (``ports.EntitlementStore``);
- for metered features, the meter's usage over the usage window: the billing period
  holding now (during a trial, the trial), read through ``ports.UsageReader``;
  ``reset_at`` is that window's end;
- whether a hard spend limit is reached (``services.spend_limits``), asked only when
  the answer is a metered feature the customer has (with the customer already read: a
  customer without a limit costs one read, no preview).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.catalog.model import Feature, FeatureType, Meter, Plan
from tallybook.domain.entitlements import (
    Entitlement,
    Override,
    Reason,
    decide,
    effective_feature,
    refused,
)
from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.subscriptions.model import Customer, Status, Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.ports import Clock, EntitlementStore, FeatureOverrideRow, UsageReader

MAX_UNITS = Decimal(10) ** 15
MAX_FEATURE_KEY = 100  # the catalog's key pattern allows 1-100 characters
LIVE = frozenset({Status.TRIALING, Status.ACTIVE, Status.ENDING})


class Catalog(Protocol):
    """``CatalogService``: plans (latest and by version) and meters."""

    def list_plans(self, tenant_id: str) -> list[Plan]: ...

    def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Plan: ...

    def get_meter(self, tenant_id: str, key: str) -> Meter: ...


class Customers(Protocol):
    def customer(self, tenant_id: str, customer_id: str) -> Customer: ...


class Subscriptions(Protocol):
    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]: ...

    def customer_view(
        self, tenant_id: str, customer_id: str
    ) -> tuple[Customer, list[StoredSubscription]]:
        """``SubscriptionService.customer_view``: the customer and its account's
        subscriptions in one read; NotFound ``customer_not_found``."""
        ...


class SpendGate(Protocol):
    """``SpendLimitService``: is a hard spend limit reached (recording the hit)?"""

    def blocks_metered(self, tenant_id: str, customer: Customer) -> bool: ...


class _Features:
    """Feature definitions by key: the customer's plan version's own, else the first
    latest plan version defining the key. ``latest`` (every plan's latest version) is
    called at most once, and only for a key the own plan does not list."""

    def __init__(self, own: Plan | None, latest: Callable[[], list[Plan]]):
        self._own = own
        self._latest = latest
        self._all: dict[str, Feature] | None = None

    def get(self, key: str) -> Feature | None:
        found = self._own.feature(key) if self._own is not None else None
        return found if found is not None else self.all().get(key)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def all(self) -> dict[str, Feature]:
        if self._all is None:
            definitions: dict[str, Feature] = {}
            for latest in self._latest():
                for feature in latest.features:
                    definitions.setdefault(feature.key, feature)
            if self._own is not None:
                definitions.update({f.key: f for f in self._own.features})
            self._all = definitions
        return self._all


@dataclass(frozen=True, slots=True)
class _Context:
    customer: Customer
    subscription: Subscription | None
    plan: Plan | None
    window: tuple[datetime, datetime] | None
    definitions: _Features
    overrides: dict[str, FeatureOverrideRow]
    now: datetime


class EntitlementService:
    def __init__(
        self,
        catalog: Catalog,
        customers: Customers,
        subscriptions: Subscriptions,
        usage: UsageReader,
        overrides: EntitlementStore,
        spend: SpendGate,
        clock: Clock,
    ):
        self._catalog = catalog
        self._customers = customers
        self._subscriptions = subscriptions
        self._usage = usage
        self._overrides = overrides
        self._spend = spend
        self._clock = clock

    # -- use cases ------------------------------------------------------------------------

    def check(
        self, tenant_id: str, customer_id: str, feature: str, units: Decimal = Decimal(1)
    ) -> Entitlement:
        """May the customer use ``units`` of ``feature`` now? NotFound
        ``customer_not_found``, ``feature_not_found``; ValidationError ``invalid_units``."""
        units = check_units(units)
        context = self._context(tenant_id, customer_id)
        if feature not in context.definitions:
            raise feature_not_found(feature)
        return self._decide(tenant_id, context, feature, units)

    def all(self, tenant_id: str, customer_id: str) -> list[Entitlement]:
        """Every feature the customer has (its plan's and those overrides enable), plus
        those an override takes away, by key; each answered for one unit."""
        context = self._context(tenant_id, customer_id)
        keys = [f.key for f in context.plan.features] if context.plan is not None else []
        keys += [k for k in context.overrides if k in context.definitions and k not in keys]
        return [self._decide(tenant_id, context, key, Decimal(1)) for key in sorted(keys)]

    def override(
        self,
        tenant_id: str,
        customer_id: str,
        feature: str,
        *,
        enabled: bool | None,
        limit: Decimal | None,
        hard: bool | None,
    ) -> FeatureOverrideRow:
        """Set the customer's override of ``feature``; ``limit`` and ``hard`` only for a
        metered feature (ValidationError ``invalid_override``); NotFound as ``check``."""
        context = self._context(tenant_id, customer_id)
        definition = context.definitions.get(feature)
        if definition is None:
            raise feature_not_found(feature)
        if (limit is not None or hard is not None) and definition.type is not FeatureType.METERED:
            raise ValidationError(
                f"feature {feature!r} is {definition.type.value}: only metered features take "
                "limit or hard",
                code="invalid_override",
                details={"feature": feature},
            )
        if limit is not None:
            limit = check_feature_limit(limit)
        row = FeatureOverrideRow(
            context.customer.id, feature, enabled, limit, hard, self._clock.now()
        )
        self._overrides.put_override(tenant_id, row)
        return row

    def remove_override(self, tenant_id: str, customer_id: str, feature: str) -> None:
        """Remove the override; NotFound ``override_not_found`` when there is none."""
        customer = self._customers.customer(tenant_id, customer_id)
        plausible = 0 < len(feature) <= MAX_FEATURE_KEY and feature.isprintable()
        if not plausible or not self._overrides.delete_override(tenant_id, customer.id, feature):
            raise NotFound(
                f"customer {customer_id!r} has no override of {feature!r}",
                code="override_not_found",
                details={"customer": customer_id, "feature": feature},
            )

    def overrides(self, tenant_id: str, customer_id: str) -> list[FeatureOverrideRow]:
        customer = self._customers.customer(tenant_id, customer_id)
        found = self._overrides.overrides(tenant_id, customer.id)
        return [found[key] for key in sorted(found)]

    # -- computing ------------------------------------------------------------------------

    def _context(self, tenant_id: str, customer_id: str) -> _Context:
        customer, stored = self._subscriptions.customer_view(tenant_id, customer_id)
        now = self._clock.now()
        subscription = _live(stored, customer, now)
        plan = window = None
        if subscription is not None:
            ref = subscription.phase_at(now).plan
            plan = self._catalog.get_plan(tenant_id, ref.key, ref.version)
            window = _window(subscription, now)
        definitions = _Features(plan, lambda: self._catalog.list_plans(tenant_id))
        overrides = self._overrides.overrides(tenant_id, customer.id)
        return _Context(customer, subscription, plan, window, definitions, overrides, now)

    def _decide(self, tenant_id: str, c: _Context, key: str, units: Decimal) -> Entitlement:
        if c.subscription is None or c.plan is None:
            return refused(key, Reason.NO_SUBSCRIPTION, c.now)
        row = c.overrides.get(key)
        override = None if row is None else Override(row.enabled, row.limit, row.hard)
        feature = effective_feature(c.plan.feature(key), c.definitions.get(key), override)
        if feature is None:
            return refused(key, Reason.NOT_IN_PLAN, c.now)
        usage = None
        reset_at = None
        blocked = False
        if feature.type is FeatureType.METERED and feature.meter is not None:
            usage = self._usage_of(tenant_id, c, feature.meter)
            reset_at = c.window[1] if c.window else None
            blocked = self._spend.blocks_metered(tenant_id, c.customer)
        return decide(
            feature, usage=usage, units=units, spend_blocked=blocked, reset_at=reset_at, as_of=c.now
        )

    def _usage_of(self, tenant_id: str, c: _Context, meter_key: str) -> Decimal:
        if c.window is None:
            return Decimal(0)
        meter = self._catalog.get_meter(tenant_id, meter_key)
        start, end = c.window
        found = self._usage.aggregate(tenant_id, meter, start, end, customers=[c.customer.id])
        return sum(found.values(), Decimal(0))


def _live(
    stored: Sequence[StoredSubscription], customer: Customer, now: datetime
) -> Subscription | None:
    """The customer's own subscription live now (a trial counts), latest start first."""
    own = [s.subscription for s in stored if s.subscription.customer == customer.id]
    live = [s for s in own if s.status(now) in LIVE]
    return max(live, key=lambda s: s.start) if live else None


def _window(subscription: Subscription, now: datetime) -> tuple[datetime, datetime] | None:
    """The usage window of metered features: the billing period holding now, or the trial."""
    period = subscription.period_at(now)
    if period is not None:
        return period.start, period.end
    if subscription.trial_end is not None and subscription.start <= now < subscription.trial_end:
        return subscription.start, subscription.trial_end
    return None


def feature_not_found(feature: str) -> NotFound:
    return NotFound(
        f"no plan of this tenant defines feature {feature!r}",
        code="feature_not_found",
        details={"feature": feature},
    )


def check_units(units: Decimal) -> Decimal:
    """Units about to be used: 0 or more, below 10**15 (ValidationError ``invalid_units``)."""
    if not units.is_finite() or units < 0 or units >= MAX_UNITS:
        raise ValidationError(
            "units must be a number from 0 up to 10**15",
            code="invalid_units",
            details={"units": str(units)[:40]},
        )
    return units


def check_feature_limit(limit: Decimal) -> Decimal:
    """An override's limit: 0 or more, below 10**15 (ValidationError ``invalid_limit``)."""
    if not limit.is_finite() or limit < 0 or limit >= MAX_UNITS:
        raise ValidationError(
            "limit must be a number from 0 up to 10**15",
            code="invalid_limit",
            details={"limit": str(limit)[:40]},
        )
    return limit
