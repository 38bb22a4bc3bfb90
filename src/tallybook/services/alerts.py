"""Alerts: the rules (``/v1/alerts``) and evaluation per customer; the background
evaluator that drives it is ``services/alert_evaluator.py``.

The rules and the crossing rule are in ``domain.alerts``. Flow:

1. Ingest marks every customer it stored new events for in ``alert_pending``, in the
   ingest transaction (``adapters/store/rollups.py``): a rolled-back ingest marks nothing,
   a committed one can never be forgotten. After the commit it wakes the evaluator
   (``IngestService.after_commit`` -> ``AlertEvaluator.wake``).
2. ``AlertEvaluator`` (a thread in ``tallybook serve``) claims marked customers with a
   lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), evaluates each
   (``AlertService.evaluate``) and removes the mark unless ingest touched the customer
   again meanwhile. A killed evaluator leaves its claims to expire and be taken again.
3. ``evaluate`` reads the customer's current usage (``PreviewService.current_usage``, from
   rollups), its period total (``PreviewService.period_total``) and credit balance as
   needed, and fires each reached threshold not fired yet: ``AlertStore.fire`` inserts the
   fired row (UNIQUE per alert, customer, threshold and period start) and its
   ``alert.triggered`` outbox row in one transaction -- so re-evaluation, a second
   evaluator or a second server never fire twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from tallybook.domain.alerts import (
    CHARGE_TYPES,
    Alert,
    AlertType,
    Fired,
    check_alert_id,
    crossed,
    default_alerts,
    parse_thresholds,
    threshold_text,
)
from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.ids import new_id_at
from tallybook.domain.money import round_amount
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.billing.previews import (
    CreditReader,
    CurrentUsage,
    PeriodTotal,
    PreviewService,
    SubscriptionReader,
)
from tallybook.services.pagination import Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import AlertStore, Clock, PlanReader

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Created:
    alert: Alert
    created: bool  # False: the same request repeated


class AlertService:
    """Alert rules, the default-alert setting, evaluation and fired alerts."""

    def __init__(
        self,
        store: AlertStore,
        previews: PreviewService,
        subscriptions: SubscriptionReader,
        plans: PlanReader,
        clock: Clock,
        credits: CreditReader | None = None,
    ):
        self._store = store
        self._previews = previews
        self._subscriptions = subscriptions
        self._plans = plans
        self._clock = clock
        self._credits = credits

    # -- rules ----------------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        *,
        type: str,
        thresholds: Sequence[str],
        alert_id: str | None = None,
        customer: str | None = None,
        plan: str | None = None,
        charge: str | None = None,
    ) -> Created:
        """Create an alert; the same body with the same ``id`` again returns it (not
        created), another body with that id is ``409 conflict``. Errors: 422
        ``invalid_alert_type``, ``invalid_thresholds``, ``invalid_alert_id``,
        ``charge_required`` / ``charge_not_allowed``; 404 ``customer_not_found``,
        ``plan_not_found``, ``charge_not_found``."""
        kind = _alert_type(type)
        values = parse_thresholds(kind, thresholds)
        if alert_id is not None:
            check_alert_id(alert_id)
        self._check_scope(tenant_id, kind, customer, plan, charge)
        now = self._clock.now()
        alert = Alert(
            id=alert_id or new_id_at("alr", now),
            type=kind,
            thresholds=values,
            customer=customer,
            plan=plan,
            charge=charge,
            created_at=now,
        )
        digest = _request_hash(alert)
        if self._store.insert_alert(tenant_id, alert, digest):
            return Created(alert, True)
        found = self._store.get_alert(tenant_id, alert.id)
        if found is None or found[1] != digest:
            raise Conflict(
                f"alert {alert.id!r} exists with a different body",
                code="conflict",
                details={"alert": alert.id},
            )
        return Created(found[0], False)

    def _check_scope(
        self,
        tenant_id: str,
        kind: AlertType,
        customer: str | None,
        plan: str | None,
        charge: str | None,
    ) -> None:
        if kind in CHARGE_TYPES and charge is None:
            raise ValidationError(
                f"a {kind.value} alert names its usage charge", code="charge_required"
            )
        if kind not in CHARGE_TYPES and charge is not None:
            raise ValidationError(
                f"a {kind.value} alert takes no charge", code="charge_not_allowed"
            )
        if customer is not None:
            self._previews.customer(tenant_id, customer)  # NotFound customer_not_found
        if plan is not None:
            found = self._plans.get_plan(tenant_id, plan)  # NotFound plan_not_found
            if charge is not None and charge not in {c.key for c in found.usage_charges}:
                raise NotFound(
                    f"plan {plan!r} has no usage charge {charge!r}",
                    code="charge_not_found",
                    details={"plan": plan, "charge": charge},
                )

    def get(self, tenant_id: str, alert_id: str) -> Alert:
        found = self._store.get_alert(tenant_id, alert_id) if alert_id.isprintable() else None
        if found is None:
            raise NotFound(
                f"no alert {alert_id!r}", code="alert_not_found", details={"alert": alert_id}
            )
        return found[0]

    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Alert]:
        check_limit(limit)
        position = decode_cursor(cursor, (str,))
        after = None if position is None else str(position[0])
        rows = self._store.page_alerts(tenant_id, limit=limit + 1, after=after)
        return page_of(rows, limit, lambda a: [a.id])

    def delete(self, tenant_id: str, alert_id: str) -> None:
        self.get(tenant_id, alert_id)
        self._store.delete_alert(tenant_id, alert_id)

    def default_allowance(self, tenant_id: str) -> bool:
        """Whether usage charges with an allowance get 80/100 % alerts by default."""
        return self._store.default_allowance(tenant_id)

    def set_default_allowance(self, tenant_id: str, enabled: bool) -> bool:
        self._store.set_default_allowance(tenant_id, enabled, self._clock.now())
        return enabled

    def fired(
        self, tenant_id: str, customer_id: str, *, limit: int, cursor: str | None
    ) -> Page[Fired]:
        """A customer's fired alerts, newest first (404 ``customer_not_found``)."""
        check_limit(limit)
        customer = self._previews.customer(tenant_id, customer_id)
        position = decode_cursor(cursor, (str,))
        before = None if position is None else str(position[0])
        rows = self._store.page_fired(tenant_id, customer.id, limit=limit + 1, before=before)
        return page_of(rows, limit, lambda f: [f.id])

    def applicable(self, tenant_id: str, usage: CurrentUsage) -> list[Alert]:
        """The rules evaluated for ``usage.customer`` now (its own, its plans', the
        tenant's, and the default 80/100 % allowance alerts of charges with an allowance
        when they are on), as ``evaluate`` picks them; for the console's customer page."""
        alerts = self._store.all_alerts(tenant_id)
        defaults = self._store.default_allowance(tenant_id)
        return self._rules(tenant_id, usage.customer, usage, usage.as_of, alerts, defaults)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(
        self, tenant_id: str, customer_id: str, now: datetime | None = None
    ) -> list[Fired]:
        """Fire what the customer's current values reach and has not fired this period,
        then the same for its bill-to parent (whose period total includes this customer's
        usage); returns what this call fired (in firing order). Unknown customers fire
        nothing."""
        now = now or self._clock.now()
        alerts = self._store.all_alerts(tenant_id)
        defaults = self._store.default_allowance(tenant_id)
        if not alerts and not defaults:
            return []  # no rule can fire for any customer of the tenant: no preview
        try:  # the projection is no alert's input: not rated
            usage = self._previews.current_usage(tenant_id, customer_id, now, project=False)
        except NotFound:
            return []
        customer = usage.customer
        fired = self._evaluate(tenant_id, customer, usage, now, alerts, defaults)
        if customer.parent is not None:  # the bill-to account's spend includes this usage
            fired += self.evaluate(tenant_id, customer.parent, now)
        return fired

    def _evaluate(
        self,
        tenant_id: str,
        customer: Customer,
        usage: CurrentUsage,
        now: datetime,
        alerts: Sequence[Alert],
        defaults: bool,
    ) -> list[Fired]:
        rules = self._rules(tenant_id, customer, usage, now, alerts, defaults)
        if not rules:
            return []
        spend = None
        if any(a.type is AlertType.SPEND_AMOUNT for a in rules):
            spend = self._previews.period_total(tenant_id, customer.id, now)
        starts = [s for s in (usage.period_start, spend and spend.period_start) if s]
        already = self._store.fired_keys(tenant_id, customer.id, starts)
        candidates: list[Fired] = []
        for alert in rules:
            candidates += self._candidates(tenant_id, alert, customer, usage, spend, already, now)
        if not candidates:
            return []
        ordered = [replace(f, id=_fired_id(now, i)) for i, f in enumerate(candidates)]
        return self._store.fire(tenant_id, ordered, now)

    def _rules(
        self,
        tenant_id: str,
        customer: Customer,
        usage: CurrentUsage,
        now: datetime,
        alerts: Sequence[Alert],
        defaults: bool,
    ) -> list[Alert]:
        """The tenant's ``alerts`` that apply to the customer, plus the default allowance
        alerts of its charges with an allowance when ``defaults`` is on."""
        rules = []
        if alerts:
            plans = self._plan_keys(tenant_id, customer, now)
            rules = [a for a in alerts if a.applies_to(customer.id, plans)]
        if usage.charges and defaults:
            with_allowance = [c.charge for c in usage.charges if c.included > 0]
            rules += default_alerts(with_allowance)
        return rules

    def _plan_keys(self, tenant_id: str, customer: Customer, now: datetime) -> set[str]:
        stored = self._subscriptions.of_account(tenant_id, customer.account)
        return {
            s.subscription.phase_at(now).plan.key
            for s in stored
            if s.subscription.customer == customer.id and s.subscription.period_at(now)
        }

    def _candidates(
        self,
        tenant_id: str,
        alert: Alert,
        customer: Customer,
        usage: CurrentUsage,
        spend: PeriodTotal | None,
        already: set[tuple[str, str, datetime]],
        now: datetime,
    ) -> list[Fired]:
        measured = self._measure(tenant_id, alert, customer, usage, spend, now)
        if measured is None:
            return []
        value, limit, start, end = measured
        done = {t for a, t, s in already if a == alert.id and s == start}
        return [
            Fired(
                alert=alert.id,
                customer=customer.id,
                type=alert.type,
                charge=alert.charge,
                threshold=t,
                value=value,
                limit=limit if alert.type in CHARGE_TYPES else t,
                period_start=start,
                period_end=end,
                fired_at=now,
            )
            for t in crossed(alert, value, limit, done)
        ]

    def _measure(
        self,
        tenant_id: str,
        alert: Alert,
        customer: Customer,
        usage: CurrentUsage,
        spend: PeriodTotal | None,
        now: datetime,
    ) -> tuple[Decimal, Decimal | None, datetime, datetime] | None:
        """(value, allowance, period start, period end), or None when not applicable."""
        if alert.type is AlertType.SPEND_AMOUNT:
            if spend is None:
                return None
            return spend.total, None, spend.period_start, spend.period_end
        if usage.period_start is None or usage.period_end is None:
            return None
        if alert.type is AlertType.CREDIT_BALANCE_BELOW:
            balance = self._balance(tenant_id, customer, now)
            if balance is None:
                return None
            return balance, None, usage.period_start, usage.period_end
        charges = [c for c in usage.charges if c.charge == alert.charge]
        if not charges:
            return None
        used = sum((c.used for c in charges), ZERO)
        included = sum((c.included for c in charges), ZERO)
        return used, included, usage.period_start, usage.period_end

    def _balance(self, tenant_id: str, customer: Customer, now: datetime) -> Decimal | None:
        """The live credit balance in the customer's currency; None without a live grant."""
        if self._credits is None:
            return None
        live = [
            left
            for grant, left in self._credits.balances(tenant_id, customer.id)
            if grant.currency == customer.currency and grant.live_at(now)
        ]
        if not live:
            return None
        return round_amount(sum((x for x in live if x > 0), ZERO), customer.currency)


def _fired_id(now: datetime, index: int) -> str:
    """``fal_`` + time-ordered hex whose next part is ``index``: the thresholds one
    evaluation fires sort (and list) in firing order even within one millisecond."""
    base = new_id_at("fal", now)
    return f"{base[:16]}{index:04x}{base[20:]}"


def _alert_type(text: str) -> AlertType:
    try:
        return AlertType(text)
    except ValueError:
        raise ValidationError(
            f"unknown alert type {text[:64]!r}",
            code="invalid_alert_type",
            details={"allowed": [t.value for t in AlertType]},
        ) from None


def _request_hash(alert: Alert) -> str:
    body = {
        "type": alert.type.value,
        "customer": alert.customer,
        "plan": alert.plan,
        "charge": alert.charge,
        "thresholds": [threshold_text(t) for t in alert.thresholds],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
