"""Revenue analytics: MRR with movements, retention, LTV and CAC, forecasts (per currency).

Committed MRR comes from the subscriptions' schedules and the catalog
(``domain.analytics.mrr.committed_mrr`` at each month's last instant); usage MRR from the
usage and adjustment lines of final invoices, in the UTC month their service period
starts. Definitions and worked numbers: docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

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
from tallybook.services.billing.invoices import PlanBook
from tallybook.services.ports import AnalyticsStore, Clock, PlanReader

ZERO = Decimal(0)
MAX_FORECAST_MONTHS = 24
HISTORY_MONTHS = 3
METHODS = ("mean", "trend")
Key = tuple[str, str]  # (customer, currency)


class Series:
    """Per customer and currency: MRR (committed, usage) at each month of ``months``;
    per customer: subscribed at each month's snapshot; who had MRR before the window.

    Values are kept in lists by the month's position in ``months`` (sorted).
    """

    def __init__(self, months: list[Month]):
        self.months = months
        self.index = {month: n for n, month in enumerate(months)}
        self.committed: dict[Key, list[Decimal]] = {}
        self.usage: dict[Key, list[Decimal]] = {}
        self.subscribed: dict[str, list[bool]] = {}
        self.paid_before: set[str] = set()

    def customer_keys(self) -> set[Key]:
        return set(self.committed) | set(self.usage)

    def add_committed(self, key: Key, position: int, value: Decimal) -> None:
        row = self.committed.get(key)
        if row is None:
            row = self.committed[key] = [ZERO] * len(self.months)
        row[position] += value

    def add_usage(self, key: Key, position: int, value: Decimal) -> None:
        row = self.usage.get(key)
        if row is None:
            row = self.usage[key] = [ZERO] * len(self.months)
        row[position] += value

    def committed_at(self, key: Key, month: Month) -> Decimal:
        row = self.committed.get(key)
        return ZERO if row is None else row[self.index[month]]

    def usage_at(self, key: Key, month: Month) -> Decimal:
        row = self.usage.get(key)
        return ZERO if row is None else row[self.index[month]]

    def mrr(self, key: Key, month: Month) -> Decimal:
        return self.committed_at(key, month) + self.usage_at(key, month)

    def is_subscribed(self, customer: str, month: Month) -> bool:
        row = self.subscribed.get(customer)
        return row is not None and row[self.index[month]]


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
        snapshots = [month.snapshot for month in wanted]
        for chunk in self._store.subscription_chunks(tenant_id):
            for item in chunk:
                sub = item.subscription
                key = (sub.customer, sub.currency)
                if sub.billing_start < first.start:
                    series.paid_before.add(sub.customer)
                for position, at in enumerate(snapshots):
                    if not is_subscribed(sub, at):
                        continue
                    flags = series.subscribed.get(sub.customer)
                    if flags is None:
                        flags = series.subscribed[sub.customer] = [False] * len(wanted)
                    flags[position] = True
                    value = committed_mrr(sub, book, at)
                    if value:
                        series.add_committed(key, position, value)
        positions = {str(month): n for n, month in enumerate(wanted)}
        for revenue in self._store.revenue_by_month(tenant_id, first.start):
            found = positions.get(revenue.month)
            if found is not None:
                series.add_usage((revenue.customer, revenue.currency), found, revenue.amount)
        return series

    # -- MRR --------------------------------------------------------------------------

    def mrr(self, tenant_id: str, first: Month, last: Month) -> list[MrrRow]:
        """Per month and currency: committed and usage MRR, customers and movements."""
        months = month_range(first, last)
        series = self.series(tenant_id, months)
        count = len(series.months)
        # positions of the asked months, and of the month before each (always present)
        asked = [(series.index[m], series.index[m.previous()]) for m in months]
        totals: dict[tuple[int, str], MonthTotals] = {}
        currencies = {currency for _, currency in series.customer_keys()}
        for currency in currencies:
            for position, _ in asked:
                totals[(position, currency)] = MonthTotals()
        zeros, nowhere = [ZERO] * count, [False] * count
        for key in series.customer_keys():
            customer, currency = key
            committed = series.committed.get(key, zeros)
            usage = series.usage.get(key, zeros)
            subscribed = series.subscribed.get(customer, nowhere)
            mrr = [c + u for c, u in zip(committed, usage, strict=True)]
            earlier = [customer in series.paid_before]  # had MRR before each position
            for value in mrr:
                earlier.append(earlier[-1] or value > 0)
            for position, previous in asked:
                row = totals[(position, currency)]
                row.committed += committed[position]
                row.usage += usage[position]
                now, before = mrr[position], mrr[previous]
                if now > 0:
                    row.customers += 1
                if now == before:
                    continue  # no movement (``classify`` answers None)
                change = classify(
                    CustomerMonth(
                        before, now, subscribed[previous], subscribed[position], earlier[position]
                    )
                )
                if change is not None:
                    name, amount = change
                    setattr(row.movements, name, getattr(row.movements, name) + amount)
        return [
            MrrRow(month, currency, totals.get((position, currency), MonthTotals()))
            for month, (position, _) in zip(months, asked, strict=True)
            for currency in sorted(currencies)
        ]

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
