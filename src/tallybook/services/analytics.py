"""Revenue analytics: MRR with movements, retention, LTV and CAC, forecasts (per currency).

Committed MRR comes from the subscriptions' schedules and the catalog
(``domain.analytics.mrr.committed_mrr`` at each month's last instant); usage MRR from the
usage and adjustment lines of final invoices, in the UTC month their service period
starts. Definitions and worked numbers: docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tallybook.adapters.clock import Clock
from tallybook.adapters.store.analytics_sql import AnalyticsStore
from tallybook.domain.analytics.months import Month, month_range
from tallybook.domain.analytics.mrr import (
    CustomerMonth,
    MonthTotals,
    classify,
    committed_mrr,
    is_subscribed,
)
from tallybook.domain.analytics.retention import (
    CohortMember,
    Ltv,
    Retention,
    forecast,
    ltv,
    retention,
)
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import round_amount
from tallybook.services.invoicing import PlanBook
from tallybook.services.ports import PlanReader

ZERO = Decimal(0)
MAX_FORECAST_MONTHS = 24
HISTORY_MONTHS = 3
METHODS = ("mean", "trend")
Key = tuple[str, str]  # (customer, currency)


@dataclass
class Series:
    """Per customer and currency: MRR (committed, usage) at each month asked; per
    customer: subscribed at each month's snapshot; who had MRR before the window."""

    months: list[Month]
    committed: dict[Key, dict[Month, Decimal]] = field(default_factory=dict)
    usage: dict[Key, dict[Month, Decimal]] = field(default_factory=dict)
    subscribed: dict[str, set[Month]] = field(default_factory=dict)
    paid_before: set[str] = field(default_factory=set)

    def customer_keys(self) -> set[Key]:
        return set(self.committed) | set(self.usage)

    def committed_at(self, key: Key, month: Month) -> Decimal:
        return self.committed.get(key, {}).get(month, ZERO)

    def usage_at(self, key: Key, month: Month) -> Decimal:
        return self.usage.get(key, {}).get(month, ZERO)

    def mrr(self, key: Key, month: Month) -> Decimal:
        return self.committed_at(key, month) + self.usage_at(key, month)

    def is_subscribed(self, customer: str, month: Month) -> bool:
        return month in self.subscribed.get(customer, ())


@dataclass(frozen=True, slots=True)
class MrrRow:
    month: Month
    currency: str
    totals: MonthTotals


@dataclass(frozen=True, slots=True)
class RetentionAnswer:
    currency: str | None
    start: Month
    end: Month
    retention: Retention


@dataclass(frozen=True, slots=True)
class LtvAnswer:
    currency: str | None
    month: Month
    gross_margin: Decimal
    customers: int
    churned: int
    new_customers: int
    value: Ltv


@dataclass(frozen=True, slots=True)
class ForecastRow:
    month: Month
    currency: str
    committed: Decimal
    usage: Decimal


class AnalyticsService:
    """MRR, retention, LTV/CAC and forecasts of one tenant."""

    def __init__(self, store: AnalyticsStore, plans: PlanReader, clock: Clock):
        self._store = store
        self._plans = plans
        self._clock = clock

    # -- series -----------------------------------------------------------------------

    def series(self, tenant_id: str, months: Iterable[Month]) -> Series:
        """MRR per customer at each of ``months`` and the month before each."""
        wanted = sorted({m for month in months for m in (month, month.previous())})
        series = Series(wanted)
        book = PlanBook(self._plans, tenant_id)
        first = wanted[0]
        for chunk in self._store.subscription_chunks(tenant_id):
            for item in chunk:
                sub = item.subscription
                key = (sub.customer, sub.currency)
                if sub.billing_start < first.start:
                    series.paid_before.add(sub.customer)
                for month in wanted:
                    at = month.snapshot
                    if not is_subscribed(sub, at):
                        continue
                    series.subscribed.setdefault(sub.customer, set()).add(month)
                    value = committed_mrr(sub, book, at)
                    if value:
                        row = series.committed.setdefault(key, {})
                        row[month] = row.get(month, ZERO) + value
        chosen = set(wanted)
        for line in self._store.revenue_lines(tenant_id, first.start):
            month = Month.of(line.period_start)
            if month in chosen:
                row = series.usage.setdefault((line.customer, line.currency), {})
                row[month] = row.get(month, ZERO) + line.amount
        return series

    # -- MRR --------------------------------------------------------------------------

    def mrr(self, tenant_id: str, first: Month, last: Month) -> list[MrrRow]:
        """Per month and currency: committed and usage MRR, customers and movements."""
        months = month_range(first, last)
        series = self.series(tenant_id, months)
        totals: dict[tuple[Month, str], MonthTotals] = {}
        currencies = {currency for _, currency in series.customer_keys()}
        for key in series.customer_keys():
            customer, currency = key
            had = customer in series.paid_before
            for month in series.months:
                if month not in months:
                    had = had or series.mrr(key, month) > 0
                    continue
                row = totals.setdefault((month, currency), MonthTotals())
                self._add(series, key, month, row, had)
                had = had or series.mrr(key, month) > 0
        return [
            MrrRow(month, currency, totals.get((month, currency), MonthTotals()))
            for month in months
            for currency in sorted(currencies)
        ]

    @staticmethod
    def _add(series: Series, key: Key, month: Month, row: MonthTotals, had: bool) -> None:
        customer = key[0]
        now = series.mrr(key, month)
        before = series.mrr(key, month.previous())
        row.committed += series.committed_at(key, month)
        row.usage += series.usage_at(key, month)
        if now > 0:
            row.customers += 1
        change = classify(
            CustomerMonth(
                before,
                now,
                series.is_subscribed(customer, month.previous()),
                series.is_subscribed(customer, month),
                had,
            )
        )
        if change is not None:
            name, amount = change
            setattr(row.movements, name, getattr(row.movements, name) + amount)

    # -- retention --------------------------------------------------------------------

    def retention(
        self, tenant_id: str, start: Month, end: Month, currency: str | None
    ) -> RetentionAnswer:
        """NRR, GRR and churn from ``start`` to ``end`` over customers with MRR at start."""
        month_range(start, end)  # checks order and length
        series = self.series(tenant_id, [start, end])
        cohort = [k for k in series.customer_keys() if series.mrr(k, start) > 0]
        chosen = _currency(currency, {c for _, c in cohort})
        members = [
            CohortMember(
                series.mrr(key, start),
                series.mrr(key, end),
                series.is_subscribed(key[0], end),
            )
            for key in cohort
            if key[1] == chosen
        ]
        return RetentionAnswer(chosen, start, end, retention(members))

    # -- LTV and CAC ------------------------------------------------------------------

    def ltv(
        self, tenant_id: str, month: Month, gross_margin: Decimal, currency: str | None
    ) -> LtvAnswer:
        """ARPA, monthly logo churn and LTV of ``month`` (and CAC with recorded spend)."""
        rows = self.mrr(tenant_id, month, month)
        chosen = _currency(currency, {r.currency for r in rows if r.totals.customers})
        row = next((r for r in rows if r.currency == chosen), None)
        totals = row.totals if row is not None else MonthTotals()
        series = self.series(tenant_id, [month])
        keys = [k for k in series.customer_keys() if k[1] == chosen]
        before = sum(1 for k in keys if series.mrr(k, month.previous()) > 0)
        churned = sum(
            1
            for k in keys
            if series.mrr(k, month.previous()) > 0
            and series.mrr(k, month) == 0
            and not series.is_subscribed(k[0], month)
        )
        new = sum(
            1
            for k in keys
            if series.mrr(k, month.previous()) == 0
            and series.mrr(k, month) > 0
            and k[0] not in series.paid_before
        )
        spend = None if chosen is None else self._store.spend(tenant_id, str(month), chosen)
        value = ltv(
            totals.mrr,
            totals.customers,
            churned,
            before,
            gross_margin,
            chosen or "USD",
            spend=spend,
            new_customers=new,
        )
        return LtvAnswer(chosen, month, gross_margin, totals.customers, churned, new, value)

    def set_acquisition_spend(
        self, tenant_id: str, month: Month, amount: Decimal, currency: str | None
    ) -> tuple[str, Decimal]:
        """Record what acquiring customers cost in ``month`` (replaces an earlier figure).

        ``currency`` defaults to the tenant's only customer currency (``currency_required``
        when it has several). Returns (currency, amount).
        """
        chosen = _currency(currency, self._store.currencies(tenant_id))
        if chosen is None:
            raise ValidationError(
                "the tenant has no customers yet: pass currency", code="currency_required"
            )
        currency = chosen
        if amount < 0:
            raise ValidationError("amount cannot be negative", code="invalid_amount")
        rounded = round_amount(amount, currency)
        if rounded != amount:
            raise ValidationError(
                f"amount has more decimals than {currency} allows", code="invalid_amount"
            )
        self._store.set_spend(tenant_id, str(month), currency, amount, self._clock.now())
        return currency, rounded

    # -- forecast ---------------------------------------------------------------------

    def forecast(self, tenant_id: str, months: int, method: str) -> list[ForecastRow]:
        """The next ``months`` months from the current one: committed MRR from the
        schedules as they stand (known cancellations included), usage MRR from the last
        three complete months (their mean, or their least-squares trend)."""
        if not 1 <= months <= MAX_FORECAST_MONTHS:
            raise ValidationError(f"months must be 1-{MAX_FORECAST_MONTHS}", code="invalid_months")
        if method not in METHODS:
            raise ValidationError(
                "method must be mean or trend", code="invalid_method", details={"method": method}
            )
        current = Month.of(self._clock.now())
        history = [current.plus(-n) for n in range(HISTORY_MONTHS, 0, -1)]
        future = [current.plus(n) for n in range(months)]
        past = self.mrr(tenant_id, history[0], history[-1])
        ahead = self.series(tenant_id, future)
        currencies = {r.currency for r in past} | {c for _, c in ahead.customer_keys()}
        rows = []
        for currency in sorted(currencies):
            usage = [r.totals.usage for r in past if r.currency == currency]
            predicted = forecast(usage, months, method, currency)
            for month, usage_mrr in zip(future, predicted, strict=True):
                committed = sum(
                    (
                        ahead.committed_at(k, month)
                        for k in ahead.customer_keys()
                        if k[1] == currency
                    ),
                    round_amount(ZERO, currency),
                )
                rows.append(ForecastRow(month, currency, committed, usage_mrr))
        return rows


def _currency(asked: str | None, present: Sequence[str] | set[str]) -> str | None:
    """The currency an answer is for: the one asked, or the only one present."""
    if asked is not None:
        return asked.upper()
    if len(present) > 1:
        raise ValidationError(
            f"several currencies ({', '.join(sorted(present))}): pass currency",
            code="currency_required",
            details={"currencies": sorted(present)},
        )
    return next(iter(present), None)
