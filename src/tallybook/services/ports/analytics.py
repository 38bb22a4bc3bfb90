"""Analytics ports (issue 13): analytics reads, backtest / experiment / spend rows,
warehouse exports, experiment statistics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from tallybook.domain.analytics.period_usage import PeriodUsage
from tallybook.domain.subscriptions.stored import StoredSubscription


@dataclass(frozen=True, slots=True)
class RevenueMonth:
    """Usage and adjustment revenue of one customer, currency and month (``YYYY-MM``,
    the UTC month the lines' service periods start in)."""

    customer: str
    currency: str
    month: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """One stored backtest: its request document, progress and result (or error)."""

    id: str
    status: str
    done: int
    total: int
    request: dict[str, Any]
    request_hash: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExperimentRow:
    """One stored price experiment: its arms' plans, treatment share and life span."""

    key: str
    control_plan: str
    treatment_plan: str
    share: Decimal
    start: datetime
    end: datetime | None
    stopped_at: datetime | None
    request_hash: str
    created_at: datetime
    updated_at: datetime


class AnalyticsStore(Protocol):
    """Reads for analytics; rows for backtests, experiments and acquisition spend
    (``adapters/store/analytics_sql.py``)."""

    def subscription_chunks(
        self, tenant_id: str, *, size: int = 500, customers: Sequence[str] | None = None
    ) -> Iterator[list[StoredSubscription]]: ...
    def count_subscriptions(
        self, tenant_id: str, customers: Sequence[str] | None = None
    ) -> int: ...
    def revenue_by_month(self, tenant_id: str, issued_from: datetime) -> Iterator[RevenueMonth]: ...
    def currencies(self, tenant_id: str) -> set[str]: ...
    def existing_customers(self, tenant_id: str, ids: Sequence[str]) -> set[str]: ...
    def insert_backtest(self, tenant_id: str, row: BacktestRow) -> bool: ...
    def get_backtest(self, tenant_id: str, backtest_id: str) -> BacktestRow | None: ...
    def page_backtests(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[BacktestRow]: ...
    def update_backtest(self, tenant_id: str, backtest_id: str, **values: Any) -> None: ...
    def insert_experiment(self, tenant_id: str, row: ExperimentRow) -> bool: ...
    def get_experiment(self, tenant_id: str, key: str) -> ExperimentRow | None: ...
    def page_experiments(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[ExperimentRow]: ...
    def raise_share(self, tenant_id: str, key: str, share: Decimal, now: datetime) -> bool: ...
    def stop_experiment(self, tenant_id: str, key: str, now: datetime) -> None: ...
    def assignment(self, tenant_id: str, key: str, customer: str) -> str | None: ...
    def assign(self, tenant_id: str, key: str, customer: str, arm: str, now: datetime) -> str: ...
    def assignments(self, tenant_id: str, key: str) -> list[tuple[str, str, datetime]]: ...
    def set_spend(
        self, tenant_id: str, month: str, currency: str, amount: Decimal, now: datetime
    ) -> None: ...
    def spend(self, tenant_id: str, month: str, currency: str) -> Decimal | None: ...


class Statistics(Protocol):
    """Significance tests for experiments (``adapters/statistics.py``, scipy): two-sided
    p-values as Decimals rounded to 4 places, None when the statistic is undefined."""

    def two_proportion_p(
        self, successes_a: int, total_a: int, successes_b: int, total_b: int
    ) -> Decimal | None: ...
    def welch_p(
        self, values_a: Sequence[Decimal], values_b: Sequence[Decimal]
    ) -> Decimal | None: ...


ExportKind = Literal["instant", "integer", "text"]


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One exported column: its name and kind (instants are UTC microseconds; integers;
    everything else, decimals and JSON included, is exported as text)."""

    name: str
    kind: ExportKind


class ExportStore(Protocol):
    """Reads for warehouse exports (``adapters/store/export_sql.py``)."""

    def tables(self) -> tuple[str, ...]:
        """The exported table names, in export order."""
        ...

    def columns(self, name: str) -> list[ExportColumn]:
        """The exported columns of table ``name``."""
        ...

    def batches(
        self, tenant_id: str, name: str, since: datetime | None, until: datetime
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows of ``name`` whose change column is in ``[since, until)``, in batches."""
        ...


class PeriodUsageReader(Protocol):
    """Per-period usage as billed (``adapters/store/period_usage.py``; the rule is
    ``domain.analytics.period_usage``)."""

    def period_usage(
        self, tenant_id: str, start: datetime, until: datetime, charges: Sequence[str] | None
    ) -> list[PeriodUsage]:
        """The rows of billing periods lying inside ``[start, until)`` for ``charges``
        (every charge when None), with every period's marker row (charge ``""``)."""
        ...
