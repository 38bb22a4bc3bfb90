"""Pricing experiments (CONTRACT.md, Experiments and analytics).

An experiment splits *new* subscriptions created with ``"plan": "experiment:<key>"``
between a control and a treatment plan by the sticky hash of ``domain.analytics.experiments``.
The first assignment of a customer is stored and kept for ever (the primary key of
``experiment_assignments``), so ramps (``share`` may only rise) add customers to the
treatment without moving anyone already assigned. Outside its window, or once stopped, an
experiment assigns nobody new: an assigned customer keeps its arm's plan, others get the
control plan.

Results per arm: ``customers`` assigned; ``converted``: their subscription reached paid
billing (the trial ended, or there was none, and it had not ended first); ``churned``:
it has ended; ``mrr``: committed MRR now plus usage MRR of the last complete month;
``arpa``: MRR per paying customer. p-values: conversion by the two-proportion z-test
(computed as scipy's 2x2 chi-square test without continuity correction, which is the
same test: chi2 = z^2) and MRR per customer by Welch's t-test (``scipy.stats.ttest_ind``
with ``equal_var=False``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from tallybook.domain.analytics.experiments import Arm, assign, check_share
from tallybook.domain.analytics.months import Month
from tallybook.domain.analytics.mrr import committed_mrr
from tallybook.domain.errors import Conflict, CurrencyMismatch, NotFound, ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT, round_amount
from tallybook.domain.subscriptions.model import Subscription
from tallybook.services.billing.invoices import PlanBook
from tallybook.services.ports import (
    AnalyticsStore,
    Clock,
    ExperimentRow,
    PlanReader,
    Statistics,
)

ZERO = Decimal(0)
PREFIX = "experiment:"


@dataclass(frozen=True, slots=True)
class ArmResult:
    arm: Arm
    plan: str
    customers: int
    converted: int
    churned: int
    mrr: Decimal
    arpa: Decimal | None
    values: tuple[Decimal, ...]  # MRR per assigned customer


@dataclass(frozen=True, slots=True)
class Results:
    experiment: ExperimentRow
    currency: str
    control: ArmResult
    treatment: ArmResult
    conversion_p_value: Decimal | None
    mrr_p_value: Decimal | None


class ExperimentService:
    """Create, ramp, stop and read experiments; assign customers; compute results."""

    def __init__(self, store: AnalyticsStore, plans: PlanReader, clock: Clock, stats: Statistics):
        self._store = store
        self._plans = plans
        self._clock = clock
        self._stats = stats

    def create(
        self,
        tenant_id: str,
        key: str,
        control_plan: str,
        treatment_plan: str,
        share: Decimal,
        start: datetime | None,
        end: datetime | None,
    ) -> ExperimentRow:
        """A new experiment; the same key and body again returns it, another body is a
        ``conflict``. Raises ``invalid_share``, ``invalid_window``, ``plan_not_found``,
        ``currency_mismatch``, ``invalid_experiment``."""
        check_share(share)
        now = self._clock.now()
        start = start or now
        if end is not None and end <= start:
            raise ValidationError("end must be after start", code="invalid_window")
        if control_plan == treatment_plan:
            raise ValidationError(
                "control_plan and treatment_plan must differ", code="invalid_experiment"
            )
        control = self._plans.get_plan(tenant_id, control_plan)
        treatment = self._plans.get_plan(tenant_id, treatment_plan)
        if control.currency != treatment.currency:
            raise CurrencyMismatch(
                f"control is in {control.currency}, treatment in {treatment.currency}",
                details={"control": control.currency, "treatment": treatment.currency},
            )
        digest = _digest(
            {
                "control_plan": control_plan,
                "treatment_plan": treatment_plan,
                "share": f"{share.normalize():f}",
                "start": start.isoformat(),
                "end": None if end is None else end.isoformat(),
            }
        )
        row = ExperimentRow(
            key, control_plan, treatment_plan, share, start, end, None, digest, now, now
        )
        if not self._store.insert_experiment(tenant_id, row):
            existing = self.get(tenant_id, key)
            if existing.request_hash != digest:
                raise Conflict(
                    f"experiment {key!r} exists with another body",
                    code="conflict",
                    details={"key": key},
                )
            return existing
        return row

    def get(self, tenant_id: str, key: str) -> ExperimentRow:
        row = self._store.get_experiment(tenant_id, key)
        if row is None:
            raise NotFound(
                f"no experiment {key!r}", code="experiment_not_found", details={"key": key}
            )
        return row

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[ExperimentRow]:
        return self._store.page_experiments(tenant_id, limit=limit, after=after)

    def ramp(self, tenant_id: str, key: str, share: Decimal) -> ExperimentRow:
        """Raise the treatment share (``share_lowered`` if lower; ``experiment_stopped``)."""
        check_share(share)
        current = self.get(tenant_id, key)
        if current.stopped_at is not None:
            raise Conflict(f"experiment {key!r} is stopped", code="experiment_stopped")
        if share < current.share:
            raise ValidationError(
                f"share can only rise (it is {current.share:f}): lowering it would move "
                "assigned customers",
                code="share_lowered",
                details={"share": f"{current.share:f}"},
            )
        if not self._store.raise_share(tenant_id, key, share, self._clock.now()):
            raise Conflict(f"experiment {key!r} changed meanwhile; retry", code="conflict")
        return self.get(tenant_id, key)

    def stop(self, tenant_id: str, key: str) -> ExperimentRow:
        self.get(tenant_id, key)
        self._store.stop_experiment(tenant_id, key, self._clock.now())
        return self.get(tenant_id, key)

    # -- assignment (the subscription hook) ---------------------------------------------

    def plan_for(self, tenant_id: str, key: str, customer: str) -> str:
        """The plan key a new subscription of ``customer`` on ``experiment:<key>`` gets."""
        experiment = self.get(tenant_id, key)
        plans = {Arm.CONTROL: experiment.control_plan, Arm.TREATMENT: experiment.treatment_plan}
        stored = self._store.assignment(tenant_id, key, customer)
        if stored is not None:
            return plans[Arm(stored)]
        now = self._clock.now()
        running = (
            experiment.stopped_at is None
            and experiment.start <= now
            and (experiment.end is None or now < experiment.end)
        )
        if not running:
            return experiment.control_plan
        arm = assign(key, customer, experiment.share)
        kept = self._store.assign(tenant_id, key, customer, arm.value, now)
        return plans[Arm(kept)]

    # -- results ------------------------------------------------------------------------

    def results(self, tenant_id: str, key: str) -> Results:
        experiment = self.get(tenant_id, key)
        now = self._clock.now()
        book = PlanBook(self._plans, tenant_id)
        control_plan = self._plans.get_plan(tenant_id, experiment.control_plan)
        currency = control_plan.currency
        assigned = self._store.assignments(tenant_id, key)
        customers = [c for c, _, _ in assigned]
        subs: dict[str, list[Subscription]] = {}
        for chunk in self._store.subscription_chunks(tenant_id, customers=customers or [""]):
            for item in chunk:
                subs.setdefault(item.subscription.customer, []).append(item.subscription)
        last = Month.of(now).previous()
        usage: dict[str, Decimal] = {}
        for revenue in self._store.revenue_by_month(tenant_id, last.start):
            if revenue.month == str(last) and revenue.currency == currency:
                usage[revenue.customer] = usage.get(revenue.customer, ZERO) + revenue.amount
        arms = {}
        for arm, plan in (
            (Arm.CONTROL, experiment.control_plan),
            (Arm.TREATMENT, experiment.treatment_plan),
        ):
            members = [c for c, a, _ in assigned if a == arm.value]
            arms[arm] = _arm(arm, plan, members, subs, usage, book, now, currency)
        control, treatment = arms[Arm.CONTROL], arms[Arm.TREATMENT]
        return Results(
            experiment,
            currency,
            control,
            treatment,
            _conversion_p(self._stats, control, treatment),
            _welch_p(self._stats, control, treatment),
        )


def _arm(
    arm: Arm,
    plan: str,
    members: list[str],
    subs: dict[str, list[Subscription]],
    usage: dict[str, Decimal],
    book: PlanBook,
    now: datetime,
    currency: str,
) -> ArmResult:
    converted = churned = 0
    values = []
    for customer in members:
        mine = [s for s in subs.get(customer, []) if s.phases[0].plan.key == plan]
        sub = mine[0] if mine else None
        value = usage.get(customer, ZERO)
        if sub is not None:
            paid_from = sub.billing_start
            if paid_from <= now and (sub.end is None or sub.end > paid_from):
                converted += 1
            if sub.end is not None and sub.end <= now:
                churned += 1
            value += committed_mrr(sub, book, now)
        values.append(value)
    total = sum(values, round_amount(ZERO, currency))
    paying = sum(1 for v in values if v > 0)
    with localcontext(DECIMAL_CONTEXT):
        arpa = round_amount(total / paying, currency) if paying else None
    return ArmResult(arm, plan, len(members), converted, churned, total, arpa, tuple(values))


def _conversion_p(stats: Statistics, control: ArmResult, treatment: ArmResult) -> Decimal | None:
    return stats.two_proportion_p(
        treatment.converted, treatment.customers, control.converted, control.customers
    )


def _welch_p(stats: Statistics, control: ArmResult, treatment: ArmResult) -> Decimal | None:
    return stats.welch_p(treatment.values, control.values)


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
