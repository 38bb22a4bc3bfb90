"""The impact of a plan change: the last closed period of every subscription on the
changed plans, re-rated under the change with the billing engine's own code
(``services.rerating``), against what the catalog as it is bills for it.

Figures per currency: ``customers`` (distinct), ``billed`` (lines and discounts under the
current catalog), ``would_bill`` (under the change), ``delta``; with one currency they
are also given at the top level. ``per_customer`` lists each customer's figures (the
bulk-migration preview, ``GovernanceService.migration_preview``). Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tallybook.domain.catalog.model import Plan
from tallybook.domain.subscriptions.model import BillingPeriod, Subscription
from tallybook.services.ports import Clock
from tallybook.services.rerating import RatedPeriod, Rerater, SubstitutedPlans, Window

LOOKBACK = timedelta(days=800)  # the last closed period of a yearly plan fits
ZERO = Decimal(0)


@dataclass
class _Sums:
    customers: set[str] = field(default_factory=set)
    billed: Decimal = ZERO
    would_bill: Decimal = ZERO

    def as_dict(self, currency: str) -> dict[str, Any]:
        return {
            "currency": currency,
            "customers": len(self.customers),
            "billed": f"{self.billed:f}",
            "would_bill": f"{self.would_bill:f}",
            "delta": f"{self.would_bill - self.billed:f}",
        }


class ImpactService:
    """Re-rates last closed periods under substituted plans."""

    def __init__(self, rerater: Rerater, clock: Clock):
        self._rerater = rerater
        self._clock = clock

    def impact(
        self,
        tenant_id: str,
        plans: Mapping[str, Plan],
        *,
        per_customer: bool = False,
        customers: list[str] | None = None,
        periods: int = 1,
    ) -> dict[str, Any]:
        """The impact of replacing every version of ``plans`` (by key) by the given plan,
        over the last ``periods`` closed periods of each subscription on one of them."""
        now = self._clock.now()
        keys = set(plans)
        base = self._rerater.book(tenant_id)
        changed = SubstitutedPlans(base, {k: _constant(p) for k, p in plans.items()})
        window = Window(now - LOOKBACK, now, now)

        firsts: dict[str, int] = {}

        def last(sub: Subscription, period: BillingPeriod) -> bool:
            """Among the subscription's last ``periods`` closed periods, on a changed plan."""
            if sub.phase_at(period.start).plan.key not in keys:
                return False
            first = firsts.get(sub.id)
            if first is None:
                closed = sub.periods_until(now)  # once per subscription
                first = closed[-periods].index if len(closed) >= periods else 0
                firsts[sub.id] = first
            return period.index >= first

        sums: dict[str, _Sums] = {}
        rows: dict[tuple[str, str], list[Decimal]] = {}
        for rated in self._rerater.periods(
            tenant_id, window, base, [base, changed], match=last, customers=customers
        ):
            currency = rated.subscription.currency
            billed, would = _total(rated, 0), _total(rated, 1)
            total = sums.setdefault(currency, _Sums())
            total.customers.add(rated.subscription.customer)
            total.billed += billed
            total.would_bill += would
            if per_customer:
                row = rows.setdefault((rated.subscription.customer, currency), [ZERO, ZERO, ZERO])
                row[0] += billed
                row[1] += would
                row[2] += 1
        by_currency = [sums[c].as_dict(c) for c in sorted(sums)]
        answer: dict[str, Any] = {"by_currency": by_currency, "as_of": _iso(now)}
        if len(by_currency) == 1:
            answer.update(by_currency[0])
        else:
            answer.update({"customers": sum(len(s.customers) for s in sums.values())})
        if per_customer:
            answer["per_customer"] = [
                {
                    "customer": customer,
                    "currency": currency,
                    "periods": int(row[2]),
                    "billed": f"{row[0]:f}",
                    "would_bill": f"{row[1]:f}",
                    "delta": f"{row[1] - row[0]:f}",
                }
                for (customer, currency), row in sorted(rows.items())
            ]
        return answer


def _constant(plan: Plan) -> Callable[[Plan], Plan]:
    return lambda _old: plan


def _total(rated: RatedPeriod, book: int) -> Decimal:
    lines = rated.lines(book)
    return sum((line.amount for line in lines), ZERO) + sum(
        (line.amount for line in rated.discounts(book)), ZERO
    )


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")
