"""The allowance model (CONTRACT.md, Part 2): what a plan's usage charge would have
earned at candidate allowances (``current``, a percentile ``pNN`` of the samples, or a
number), with the same usage (no elasticity).

It re-rates the closed periods lying in ``[from, to)`` that start on the plan (as
``services.percentiles`` samples them) with the charge's ``included`` set to each
candidate, in every version of the plan. A summarized period (``rerating.summarized``:
the usage billed on its final period invoice) whose modelled charge is one plain line over
the whole period on the version's allowance is priced from the summary alone (its other
usage charges' billed amounts plus its fees, ``_Fees``); every other period is rated from
the events (``services.rerating``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from tallybook.domain.analytics.period_usage import MARKER
from tallybook.domain.analytics.stats import check_percentile, percentile_cont, shown
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.period_lines import period_lines
from tallybook.domain.catalog.model import Plan, Price, PricingModel, UsageCharge
from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.money import normalize, round_amount, to_decimal
from tallybook.domain.pricing.rating import billable_units
from tallybook.domain.pricing.registry import price_units
from tallybook.domain.subscriptions.model import BillingPeriod, PlanRef, Subscription
from tallybook.services.billing.invoices import PlanBook
from tallybook.services.catalog import CatalogService
from tallybook.services.ports import PeriodUsageReader
from tallybook.services.rerating import (
    RatedPeriod,
    Rerater,
    SubstitutedPlans,
    Transform,
    Window,
    starts_on,
    summarized,
)

ZERO = Decimal(0)
MAX_CANDIDATES = 20


@dataclass(frozen=True, slots=True)
class AllowanceRow:
    candidate: str
    allowance: Decimal
    over_allowance_units: Decimal
    overage_revenue: Decimal
    customers_over: int
    total: Decimal
    currency: str


class AllowanceModel:
    """Revenue of a usage charge at candidate allowances (see the module docstring)."""

    def __init__(
        self, rerater: Rerater, catalog: CatalogService, summary: PeriodUsageReader | None
    ):
        """``summary``: the per-period usage summary (None: every period is rated from
        the events)."""
        self._rerater = rerater
        self._catalog = catalog
        self._summary = summary

    def run(
        self,
        tenant_id: str,
        plan_key: str,
        charge_key: str,
        window: Window,
        candidates: Sequence[str],
    ) -> list[AllowanceRow]:
        """For each candidate allowance: units over it, their revenue, customers over it
        and the total of all the plan's charges for those periods."""
        plan = self._catalog.get_plan(tenant_id, plan_key)
        charge = plan.charge(charge_key)
        if not isinstance(charge, UsageCharge):
            raise charge_not_found(charge_key, plan_key)
        wanted = _parse_candidates(candidates)
        base = self._rerater.book(tenant_id)
        # Without a minimum spend the other charges do not depend on the allowance: the
        # candidates rate the modelled charge alone, and the rest comes from the plan as is.
        alone = not any(p.minimum_spend for p in _versions(self._catalog, tenant_id, plan_key))
        # Then a whole period billed on one plan version with one
        # plain line of the charge (no proration, rollover, dimensions or per-event
        # values) is re-rated for each candidate with the pricing registry alone:
        # ``price_units(price, max(0, used - allowance))`` rounded once, as
        # ``domain.pricing.rating`` does. Any other period goes through ``period_lines``.
        plain = alone and all(
            _plain(version.charge(charge_key))
            for version in _versions(self._catalog, tenant_id, plan_key)
        )
        quick: list[tuple[Subscription, Decimal, Price, Decimal]] = []  # (sub, used, price, other)
        kept: list[tuple[RatedPeriod, Decimal]] = []
        samples: list[Decimal] = []
        charges: dict[PlanRef, UsageCharge | None] = {}
        summary = summarized(self._summary, tenant_id, window, None) if plain else {}
        fees = _Fees(base)
        on_plan = starts_on(plan_key)

        def raw(subscription: Subscription, period: BillingPeriod) -> bool:
            """True for a period rated from the events; a summarized plain one is priced
            from the summary here."""
            if not on_plan(subscription, period):
                return False
            rows = summary.get((subscription.id, period.start))
            row = None if rows is None else rows.get(charge_key)
            if rows is None or row is None or not row.plain:
                return True
            if (row.span_start, row.span_end) != (period.full.start, period.full.end):
                return True
            found = _version_charge(subscription, period, charge_key, base, charges)
            if found is None or found.included != row.included:
                return True
            other = fees.total(subscription, period) + sum(
                (r.amount for c, r in rows.items() if c not in (MARKER, charge_key)), ZERO
            )
            samples.append(row.used)
            quick.append((subscription, row.used, found.price, other))
            return False

        for rated in self._rerater.periods(tenant_id, window, base, [base], match=raw):
            lines = rated.lines(0)
            mine = [line for line in lines if _modelled(line, charge_key)]
            if mine:
                samples.append(sum((line.used or ZERO for line in mine), ZERO))
            other = sum((line.amount for line in lines if not _modelled(line, charge_key)), ZERO)
            found = _quick_charge(rated, mine, base, charges) if plain else None
            if found is not None:
                quick.append((rated.subscription, mine[0].used or ZERO, found.price, other))
            else:
                kept.append((rated, other))
        allowances: list[Decimal] = []
        for kind, value in wanted:
            if kind == "current":
                allowances.append(charge.included)
            elif kind == "percentile":
                assert value is not None
                allowances.append(shown(percentile_cont(samples, value)) or ZERO)
            else:
                assert value is not None
                allowances.append(value)
        books = [
            SubstitutedPlans(base, {plan_key: _with_allowance(charge_key, allowance, alone)})
            for allowance in allowances
        ]
        totals = [_Tally(plan.currency) for _ in allowances]
        for tally, allowance in zip(totals, allowances, strict=True):
            for sub, used, price, other in quick:
                billable = billable_units(used, allowance)
                amount = round_amount(price_units(price, billable).amount, sub.currency)
                tally.add(sub.customer, [(billable, amount)], other)
        for rated, base_other in kept:
            sub, period = rated.subscription, rated.period
            for tally, book in zip(totals, books, strict=True):
                lines = period_lines(sub, period, book, rated.usage).all
                mine = [line for line in lines if _modelled(line, charge_key)]
                other = base_other
                if not alone:
                    other = sum(
                        (line.amount for line in lines if not _modelled(line, charge_key)), ZERO
                    )
                tally.add(sub.customer, [(line.quantity, line.amount) for line in mine], other)
        return [
            AllowanceRow(
                candidates[index].strip().lower(),
                normalize(allowance),
                normalize(tally.units),
                tally.revenue,
                len(tally.over),
                tally.total,
                plan.currency,
            )
            for index, (allowance, tally) in enumerate(zip(allowances, totals, strict=True))
        ]


def _versions(catalog: CatalogService, tenant_id: str, plan_key: str) -> list[Plan]:
    return [
        catalog.get_plan(tenant_id, plan_key, info.version)
        for info in catalog.plan_versions(tenant_id, plan_key)
    ]


class _Tally:
    def __init__(self, currency: str):
        self.units = ZERO
        self.revenue = round_amount(ZERO, currency)
        self.total = round_amount(ZERO, currency)
        self.over: set[str] = set()

    def add(
        self, customer: str, charge_lines: Sequence[tuple[Decimal, Decimal]], other: Decimal
    ) -> None:
        """One period: the modelled charge's lines (billable units, amount) and the sum
        of every other line."""
        self.total += other
        for quantity, amount in charge_lines:
            self.total += amount
            self.units += quantity
            self.revenue += amount
            if quantity > 0:
                self.over.add(customer)


def _plain(charge: object) -> bool:
    """A charge rated as one line from its total alone (or absent from the version)."""
    if charge is None:
        return True
    return (
        isinstance(charge, UsageCharge)
        and charge.rollover is None
        and not charge.prices_by_dimension
        and charge.dimension is None
        and charge.price.model is not PricingModel.PERCENTAGE
    )


def _quick_charge(
    rated: RatedPeriod,
    mine: Sequence[Line],
    base: PlanBook,
    charges: dict[PlanRef, UsageCharge | None],
) -> UsageCharge | None:
    """The charge (in the version billed) when the period's one modelled line covers the
    whole period on one version with its unscaled allowance; None otherwise."""
    if len(mine) != 1:
        return None
    line, period = mine[0], rated.period
    if (line.period_start, line.period_end) != (period.full.start, period.full.end):
        return None
    if line.dimension is not None or line.rolled_over is not None or line.used is None:
        return None
    charge = _version_charge(rated.subscription, period, line.charge, base, charges)
    if charge is None or charge.included != line.included:
        return None
    return charge


def _version_charge(
    subscription: Subscription,
    period: BillingPeriod,
    key: str,
    base: PlanBook,
    charges: dict[PlanRef, UsageCharge | None],
) -> UsageCharge | None:
    """The usage charge ``key`` in the plan version the period starts on (cached)."""
    ref = subscription.phase_at(period.start).plan
    if ref not in charges:
        found = base[ref].charge(key)
        charges[ref] = found if isinstance(found, UsageCharge) else None
    return charges[ref]


class _Fees(Mapping[PlanRef, Plan]):
    """A period's fee lines (in-advance and in-arrears fees, prorations of changes)
    summed: ``period_lines`` under every plan without its usage charges and minimum
    spend, so no usage is read. For a period billed on one version without a minimum
    spend these are exactly its lines other than usage."""

    def __init__(self, base: PlanBook):
        self._base = base
        self._plans: dict[PlanRef, Plan] = {}

    def total(self, subscription: Subscription, period: BillingPeriod) -> Decimal:
        lines = period_lines(subscription, period, self, {}).all
        return sum((line.amount for line in lines), ZERO)

    def __getitem__(self, ref: PlanRef) -> Plan:
        made = self._plans.get(ref)
        if made is None:
            plan = self._base[ref]
            kept = tuple(c for c in plan.charges if not isinstance(c, UsageCharge))
            made = self._plans[ref] = replace(plan, charges=kept, minimum_spend=ZERO)
        return made

    def __iter__(self) -> Iterator[PlanRef]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def _modelled(line: Line, charge: str) -> bool:
    return line.charge == charge and line.type is LineType.USAGE


def _with_allowance(charge_key: str, allowance: Decimal, alone: bool) -> Transform:
    """The plan with the charge's allowance replaced (and only that charge if ``alone``)."""

    def transform(plan: Plan) -> Plan:
        charges = tuple(
            replace(c, included=allowance)
            if isinstance(c, UsageCharge) and c.key == charge_key
            else c
            for c in plan.charges
            if not alone or c.key == charge_key
        )
        return replace(plan, charges=charges)

    return transform


def _parse_candidates(candidates: Sequence[str]) -> list[tuple[str, Decimal | None]]:
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise ValidationError(
            f"candidates must list 1-{MAX_CANDIDATES} allowances", code="invalid_candidate"
        )
    parsed: list[tuple[str, Decimal | None]] = []
    for raw in candidates:
        text = raw.strip().lower()
        if text == "current":
            parsed.append(("current", None))
            continue
        percentile = text.startswith("p")
        try:
            value = to_decimal(text[1:] if percentile else text, field="candidates")
        except ValidationError:
            raise ValidationError(
                f"a candidate is current, pNN (a percentile) or a number, got {raw!r}",
                code="invalid_candidate",
                details={"candidate": raw},
            ) from None
        if percentile:
            parsed.append(("percentile", check_percentile(value)))
        elif value < 0 or abs(value) >= Decimal(10) ** 18:
            raise ValidationError(
                f"an allowance cannot be negative, got {raw!r}",
                code="invalid_candidate",
                details={"candidate": raw},
            )
        else:
            parsed.append(("number", value))
    return parsed


def charge_not_found(charge: str, plan: str | None) -> NotFound:
    """NotFound ``charge_not_found``: no usage charge ``charge`` (in ``plan``)."""
    where = f" in plan {plan!r}" if plan else ""
    return NotFound(
        f"no usage charge {charge!r}{where}",
        code="charge_not_found",
        details={"charge": charge, "plan": plan},
    )
