"""Re-rating closed billing periods with the billing engine's own pure functions.

Backtests and the allowance model ask "what would these closed periods have cost under
other prices?". This module walks a tenant's subscriptions in chunks, picks the closed
periods inside a window, reads their usage in bulk through the billing run's
``UsageCache`` (one GROUP BY query per meter, window and chunk of customers) and computes
each period's lines with ``domain.billing.period_lines`` under one or more plan books:
the catalog as it is, and books where some plans are replaced (``SubstitutedPlans``).
Nothing is stored and nothing is numbered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tallybook.domain.analytics.period_usage import PeriodUsage
from tallybook.domain.billing.discounts import discount_lines
from tallybook.domain.billing.lines import Line
from tallybook.domain.billing.period_lines import (
    PeriodLines,
    UsageData,
    UsageQuery,
    period_lines,
    usage_queries,
)
from tallybook.domain.billing.proration import parts
from tallybook.domain.catalog.model import Plan
from tallybook.domain.subscriptions.model import BillingPeriod, PlanRef, Subscription
from tallybook.services.billing.invoices import PlanBook, UsageCache
from tallybook.services.ports import AnalyticsStore, PeriodUsageReader, PlanReader, UsageReader

Transform = Callable[[Plan], Plan]
Match = Callable[[Subscription, BillingPeriod], bool]
Summary = dict[tuple[str, datetime], dict[str, PeriodUsage]]  # (sub, start) -> charge -> row


class SubstitutedPlans(Mapping[PlanRef, Plan]):
    """A plan book where every version of some plan keys is transformed (replaced by a
    candidate, or given another allowance); other plans read through unchanged."""

    def __init__(self, base: PlanBook, transforms: Mapping[str, Transform]):
        self._base = base
        self._transforms = dict(transforms)
        self._made: dict[PlanRef, Plan] = {}

    def __getitem__(self, ref: PlanRef) -> Plan:
        transform = self._transforms.get(ref.key)
        if transform is None:
            return self._base[ref]
        made = self._made.get(ref)
        if made is None:
            made = replace(transform(self._base[ref]), version=ref.version)
            self._made[ref] = made
        return made

    def __iter__(self) -> Iterator[PlanRef]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


@dataclass(frozen=True, slots=True)
class RatedPeriod:
    """One closed period of a subscription and its lines under each book, in order."""

    subscription: Subscription
    period: BillingPeriod
    rated: tuple[PeriodLines, ...]
    usage: UsageData  # the usage answers it was rated with (to rate it again later)

    def lines(self, book: int) -> list[Line]:
        """Every charge line of the period (in-advance fees included) under ``book``."""
        return self.rated[book].all

    def discounts(self, book: int) -> list[Line]:
        """The period's discount lines under ``book`` (negative amounts)."""
        return discount_lines(self.subscription, self.period, self.lines(book), [])


@dataclass(frozen=True, slots=True)
class Window:
    """Closed periods lying inside ``[start, end)`` (and ended by ``now``)."""

    start: datetime
    end: datetime
    now: datetime


class Rerater:
    """Walks closed periods and rates them under several plan books."""

    def __init__(
        self,
        store: AnalyticsStore,
        plans: PlanReader,
        usage: UsageReader,
        bulk_threshold: int | None,
        chunk_size: int = 500,
    ):
        self._store = store
        self._plans = plans
        self._usage = usage
        self._bulk = bulk_threshold
        self.chunk_size = chunk_size

    def book(self, tenant_id: str) -> PlanBook:
        return PlanBook(self._plans, tenant_id)

    def count(self, tenant_id: str, customers: Sequence[str] | None) -> int:
        return self._store.count_subscriptions(tenant_id, customers)

    def periods(
        self,
        tenant_id: str,
        window: Window,
        base: PlanBook,
        books: Sequence[Mapping[PlanRef, Plan]],
        *,
        match: Match | None = None,
        customers: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[RatedPeriod]:
        """Each closed period inside ``window`` that ``match`` accepts (every one when
        None), rated under every book."""
        cache = UsageCache(self._usage, tenant_id, base, bulk_threshold=self._bulk)
        for chunk in self._store.subscription_chunks(
            tenant_id, size=self.chunk_size, customers=customers
        ):
            picked = [
                (item.subscription, period)
                for item in chunk
                for period in _closed(item.subscription, window, match)
            ]
            wanted: dict[UsageQuery, set[str]] = {}
            needs: list[list[UsageQuery]] = []
            for subscription, period in picked:
                queries = _queries(subscription, period, books)
                needs.append(queries)
                for query in queries:
                    wanted.setdefault(query, set()).add(subscription.customer)
            cache.prefetch(wanted)
            for (subscription, period), queries in zip(picked, needs, strict=True):
                usage = cache.usage(subscription.customer, queries)
                rated = tuple(period_lines(subscription, period, book, usage) for book in books)
                yield RatedPeriod(subscription, period, rated, usage)
            cache.forget()
            if progress is not None:
                progress(len(chunk))


def touches(plan_keys: set[str]) -> Match:
    """Periods in which a subscription is on one of ``plan_keys`` at some time."""

    def match(subscription: Subscription, period: BillingPeriod) -> bool:
        return any(part.phase.plan.key in plan_keys for part in parts(subscription, period))

    return match


def starts_on(plan_key: str) -> Match:
    """Periods that start on ``plan_key`` (a period belongs to the plan it starts on)."""

    def match(subscription: Subscription, period: BillingPeriod) -> bool:
        return subscription.phase_at(period.start).plan.key == plan_key

    return match


def _closed(subscription: Subscription, window: Window, match: Match | None) -> list[BillingPeriod]:
    found: list[BillingPeriod] = []
    until = min(window.end, window.now)
    if subscription.billing_start >= until:
        return found
    for period in subscription.periods():
        if period.end > until:
            break
        if period.start < window.start:
            continue
        if match is None or match(subscription, period):
            found.append(period)
    return found


def _queries(
    subscription: Subscription, period: BillingPeriod, books: Sequence[Mapping[PlanRef, Plan]]
) -> list[UsageQuery]:
    seen: dict[UsageQuery, None] = {}
    for book in books:
        for query in usage_queries(subscription, period, book):
            seen[query] = None
    return list(seen)


def summarized(
    reader: PeriodUsageReader | None, tenant_id: str, window: Window, charges: list[str] | None
) -> Summary:
    """The per-period usage summary rows (``domain.analytics.period_usage``) of the
    window's closed periods, by (subscription, period start), then charge (only
    ``charges`` unless None); empty without a ``reader``."""
    found: Summary = {}
    if reader is None:
        return found
    until = min(window.end, window.now)
    for row in reader.period_usage(tenant_id, window.start, until, charges):
        found.setdefault((row.subscription, row.period_start), {})[row.charge] = row
    return found
