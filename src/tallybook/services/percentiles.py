"""Usage percentiles per plan and charge (CONTRACT.md, Part 2); the allowance model
built on the same samples is ``services.allowance_model``.

A *sample* is one customer's usage of one charge in one closed billing period lying
inside ``[from, to)``: the ``used`` of the charge's usage lines as the billing engine
rates the period (allowance policies and plan changes included). A period belongs to the
plan it starts on. Percentiles interpolate linearly as PostgreSQL ``percentile_cont``.

Where the usage comes from: a closed period with a row in the per-period usage summary
(``domain.analytics.period_usage``: the usage billed on its final period invoice) is read
from it -- no event is read and nothing is rated; any other period (not final yet,
corrected by a late-event adjustment, billed before the summary existed without a
backfill) is rated from the events as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from tallybook.domain.analytics.stats import check_percentile, mean, percentile_cont, shown
from tallybook.domain.billing.lines import LineType
from tallybook.domain.catalog.model import Plan
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import to_decimal
from tallybook.domain.subscriptions.model import BillingPeriod, Subscription
from tallybook.services.allowance_model import AllowanceModel, AllowanceRow, charge_not_found
from tallybook.services.catalog import CatalogService
from tallybook.services.ports import Clock, PeriodUsageReader
from tallybook.services.rerating import (
    Rerater,
    SubstitutedPlans,
    Transform,
    Window,
    starts_on,
    summarized,
)

ZERO = Decimal(0)
MAX_PERCENTILES = 20


@dataclass(frozen=True, slots=True)
class PercentileRow:
    plan: str
    charge: str
    currency: str
    values: dict[str, Decimal | None]  # "p50" -> value
    mean: Decimal | None
    customers: int
    periods: int


def parse_percentiles(text: str) -> list[Decimal]:
    """``"50,75,90"`` -> decimals within 0-100 (``invalid_percentile`` otherwise)."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or len(parts) > MAX_PERCENTILES or any(not p for p in parts):
        raise ValidationError(
            f"percentiles must be 1-{MAX_PERCENTILES} comma-separated numbers within 0-100",
            code="invalid_percentile",
        )
    values = []
    for part in parts:
        try:
            value = to_decimal(part, field="percentiles")
        except ValidationError:
            raise ValidationError(
                f"percentiles must be numbers within 0-100, got {part!r}",
                code="invalid_percentile",
            ) from None
        values.append(check_percentile(value))
    return values


def label(percentile: Decimal) -> str:
    """``Decimal("50")`` -> ``"p50"``; ``Decimal("99.9")`` -> ``"p99.9"``."""
    return f"p{percentile.normalize():f}"


class PercentileService:
    """Percentiles of per-period usage; the allowance model (``AllowanceModel``) over the
    same closed periods."""

    def __init__(
        self,
        rerater: Rerater,
        catalog: CatalogService,
        clock: Clock,
        summary: PeriodUsageReader | None = None,
    ):
        """``summary``: the per-period usage summary (None: every period is rated from
        the events)."""
        self._rerater = rerater
        self._catalog = catalog
        self._clock = clock
        self._summary = summary
        self._model = AllowanceModel(rerater, catalog, summary)

    def window(self, start: datetime, end: datetime) -> Window:
        """``[start, end)``; ``invalid_window`` when reversed, ``no_closed_period`` when
        nothing in it can have closed yet."""
        if start >= end:
            raise ValidationError(
                "from must be before to",
                code="invalid_window",
                details={"from": start.isoformat(), "to": end.isoformat()},
            )
        now = self._clock.now()
        if start >= now:
            raise ValidationError(
                "the window has no closed billing period (it starts in the future)",
                code="no_closed_period",
            )
        return Window(start, end, now)

    def percentiles(
        self,
        tenant_id: str,
        window: Window,
        percentiles: Sequence[Decimal],
        *,
        plan: str | None = None,
        charge: str | None = None,
    ) -> list[PercentileRow]:
        """One row per (plan, usage charge); all plans and usage charges unless named."""
        plans = (
            [self._catalog.get_plan(tenant_id, plan)]
            if plan
            else self._catalog.list_plans(tenant_id)
        )
        pairs = [(p, c) for p in plans for c in p.usage_charges if charge in (None, c.key)]
        if charge is not None and not pairs:
            raise charge_not_found(charge, plan)
        rows = []
        for found_plan, found_charge in pairs:
            samples = self._samples(tenant_id, window, found_plan.key, found_charge.key)
            used = [value for _, value in samples]
            rows.append(
                PercentileRow(
                    found_plan.key,
                    found_charge.key,
                    found_plan.currency,
                    {label(p): shown(percentile_cont(used, p)) for p in percentiles},
                    shown(mean(used)),
                    len({customer for customer, _ in samples}),
                    len(samples),
                )
            )
        return rows

    def _samples(
        self, tenant_id: str, window: Window, plan: str, charge: str
    ) -> list[tuple[str, Decimal]]:
        base = self._rerater.book(tenant_id)
        # only the charge's usage is needed: rate the plan with that charge alone
        book = SubstitutedPlans(base, {plan: _only(charge)})
        samples: list[tuple[str, Decimal]] = []
        summary = summarized(self._summary, tenant_id, window, [charge])
        on_plan = starts_on(plan)

        def raw(subscription: Subscription, period: BillingPeriod) -> bool:
            """True for a period rated from the events; a summarized one is read here."""
            if not on_plan(subscription, period):
                return False
            rows = summary.get((subscription.id, period.start))
            if rows is None:
                return True
            row = rows.get(charge)
            if row is not None:  # no row: the charge had no usage line in the period
                samples.append((subscription.customer, row.used))
            return False

        for rated in self._rerater.periods(tenant_id, window, base, [book], match=raw):
            lines = [
                line
                for line in rated.rated[0].usage
                if line.charge == charge and line.type is LineType.USAGE
            ]
            if lines:
                used = sum((line.used or ZERO for line in lines), ZERO)
                samples.append((rated.subscription.customer, used))
        return samples

    def allowance_model(
        self,
        tenant_id: str,
        plan_key: str,
        charge_key: str,
        window: Window,
        candidates: Sequence[str],
    ) -> list[AllowanceRow]:
        """For each candidate allowance: units over it, their revenue, customers over it
        and the total of all the plan's charges for those periods (``AllowanceModel``)."""
        return self._model.run(tenant_id, plan_key, charge_key, window, candidates)


def _only(charge_key: str) -> Transform:
    def transform(plan: Plan) -> Plan:
        kept = tuple(c for c in plan.charges if c.key == charge_key)
        return replace(plan, charges=kept, minimum_spend=ZERO)

    return transform
