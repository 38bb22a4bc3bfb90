"""Read queries for analytics, and the rows of backtest jobs, experiments and spend.

Reads are chunked by keyset (subscription id) so a big tenant is walked in bounded
memory. Usage revenue is summed from ``invoice_totals`` (per final invoice, written when
it was finalized; ``invoice_totals.py``), joined to the invoices for their status. Writes are single statements; the primary keys of
``experiment_assignments`` and ``experiments`` make "once and for ever" a database rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.invoice_totals import usage_revenue_rows
from tallybook.adapters.store.schema_analytics import (
    acquisition_spend,
    backtests,
    experiment_assignments,
    experiments,
)
from tallybook.adapters.store.schema_billing import customers, subscriptions
from tallybook.adapters.store.subscriptions import stored_from_row
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.ports import BacktestRow, ExperimentRow, RevenueMonth

ZERO = Decimal(0)


class AnalyticsStore:
    """``ports.AnalyticsStore`` over SQL. Reads for analytics; rows for backtests, experiments and acquisition spend."""

    def __init__(self, engine: Engine):
        self._engine = engine

    # -- subscriptions and invoices ---------------------------------------------------

    def subscription_chunks(
        self, tenant_id: str, *, size: int = 500, customers: Sequence[str] | None = None
    ) -> Iterator[list[StoredSubscription]]:
        """Every subscription of the tenant (or of ``customers``), ``size`` at a time."""
        after: str | None = None
        while True:
            stmt = select(subscriptions).where(subscriptions.c.tenant_id == tenant_id)
            if customers is not None:
                stmt = stmt.where(subscriptions.c.customer_id.in_(list(customers)))
            if after is not None:
                stmt = stmt.where(subscriptions.c.id > after)
            stmt = stmt.order_by(subscriptions.c.id).limit(size)
            with self._engine.connect() as conn:
                chunk = [stored_from_row(row) for row in conn.execute(stmt)]
            if not chunk:
                return
            yield chunk
            after = chunk[-1].subscription.id

    def count_subscriptions(self, tenant_id: str, customers: Sequence[str] | None = None) -> int:
        stmt = select(func.count()).where(subscriptions.c.tenant_id == tenant_id)
        if customers is not None:
            stmt = stmt.where(subscriptions.c.customer_id.in_(list(customers)))
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def revenue_by_month(self, tenant_id: str, issued_from: datetime) -> Iterator[RevenueMonth]:
        """Usage and adjustment revenue of final invoices issued at or after
        ``issued_from``, per line customer, currency and UTC month (``YYYY-MM``) of the
        line's service period start: a sum over ``invoice_totals`` (written when each
        invoice was finalized), joined to the invoices for their status and currency."""
        with self._engine.connect() as conn:
            rows = list(usage_revenue_rows(conn, tenant_id, issued_from))
        for customer, currency, month, amount in rows:
            yield RevenueMonth(customer, currency, month, amount)

    def currencies(self, tenant_id: str) -> set[str]:
        """The currencies of the tenant's customers."""
        stmt = select(customers.c.currency).where(customers.c.tenant_id == tenant_id).distinct()
        with self._engine.connect() as conn:
            return {row.currency for row in conn.execute(stmt)}

    def existing_customers(self, tenant_id: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                stmt = select(customers.c.id).where(
                    customers.c.tenant_id == tenant_id,
                    customers.c.id.in_(list(ids[start : start + 500])),
                )
                found.update(row.id for row in conn.execute(stmt))
        return found

    # -- backtests --------------------------------------------------------------------

    def insert_backtest(self, tenant_id: str, row: BacktestRow) -> bool:
        """Store a new job; False when the id is taken (the caller compares bodies)."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(backtests).values(
                        tenant_id=tenant_id,
                        id=row.id,
                        status=row.status,
                        done=row.done,
                        total=row.total,
                        request=row.request,
                        request_hash=row.request_hash,
                        result=row.result,
                        error=row.error,
                        created_at=row.created_at,
                        updated_at=row.updated_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def get_backtest(self, tenant_id: str, backtest_id: str) -> BacktestRow | None:
        stmt = select(backtests).where(
            backtests.c.tenant_id == tenant_id, backtests.c.id == backtest_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _backtest(row)

    def page_backtests(self, tenant_id: str, *, limit: int, after: str | None) -> list[BacktestRow]:
        stmt = select(backtests).where(backtests.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(backtests.c.id > after)
        stmt = stmt.order_by(backtests.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [_backtest(row) for row in conn.execute(stmt)]

    def update_backtest(self, tenant_id: str, backtest_id: str, **values: Any) -> None:
        stmt = (
            update(backtests)
            .where(backtests.c.tenant_id == tenant_id, backtests.c.id == backtest_id)
            .values(**values)
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    # -- experiments ------------------------------------------------------------------

    def insert_experiment(self, tenant_id: str, row: ExperimentRow) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(experiments).values(
                        tenant_id=tenant_id,
                        key=row.key,
                        control_plan=row.control_plan,
                        treatment_plan=row.treatment_plan,
                        share=row.share,
                        start_at=row.start,
                        end_at=row.end,
                        stopped_at=row.stopped_at,
                        request_hash=row.request_hash,
                        created_at=row.created_at,
                        updated_at=row.updated_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def get_experiment(self, tenant_id: str, key: str) -> ExperimentRow | None:
        stmt = select(experiments).where(
            experiments.c.tenant_id == tenant_id, experiments.c.key == key
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _experiment(row)

    def page_experiments(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[ExperimentRow]:
        stmt = select(experiments).where(experiments.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(experiments.c.key > after)
        stmt = stmt.order_by(experiments.c.key).limit(limit)
        with self._engine.connect() as conn:
            return [_experiment(row) for row in conn.execute(stmt)]

    def raise_share(self, tenant_id: str, key: str, share: Decimal, now: datetime) -> bool:
        """Set a higher share unless stopped (one statement: no lost update). False when
        nothing changed (stopped, or the share is not higher)."""
        with self._engine.begin() as conn:
            current = conn.execute(
                select(experiments.c.share, experiments.c.stopped_at)
                .where(experiments.c.tenant_id == tenant_id, experiments.c.key == key)
                .with_for_update()
            ).first()
            if current is None or current.stopped_at is not None or share < current.share:
                return False
            conn.execute(
                update(experiments)
                .where(experiments.c.tenant_id == tenant_id, experiments.c.key == key)
                .values(share=share, updated_at=now)
            )
        return True

    def stop_experiment(self, tenant_id: str, key: str, now: datetime) -> None:
        stmt = (
            update(experiments)
            .where(
                experiments.c.tenant_id == tenant_id,
                experiments.c.key == key,
                experiments.c.stopped_at.is_(None),
            )
            .values(stopped_at=now, updated_at=now)
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def assignment(self, tenant_id: str, key: str, customer: str) -> str | None:
        stmt = select(experiment_assignments.c.arm).where(
            experiment_assignments.c.tenant_id == tenant_id,
            experiment_assignments.c.experiment_key == key,
            experiment_assignments.c.customer_id == customer,
        )
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def assign(self, tenant_id: str, key: str, customer: str, arm: str, now: datetime) -> str:
        """Record ``arm`` unless the customer has one already; the stored arm either way."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(experiment_assignments).values(
                        tenant_id=tenant_id,
                        experiment_key=key,
                        customer_id=customer,
                        arm=arm,
                        assigned_at=now,
                    )
                )
        except IntegrityError:
            stored = self.assignment(tenant_id, key, customer)
            return stored or arm
        return arm

    def assignments(self, tenant_id: str, key: str) -> list[tuple[str, str, datetime]]:
        """(customer, arm, assigned_at) of every customer in the experiment."""
        stmt = (
            select(
                experiment_assignments.c.customer_id,
                experiment_assignments.c.arm,
                experiment_assignments.c.assigned_at,
            )
            .where(
                experiment_assignments.c.tenant_id == tenant_id,
                experiment_assignments.c.experiment_key == key,
            )
            .order_by(experiment_assignments.c.customer_id)
        )
        with self._engine.connect() as conn:
            return [(r.customer_id, r.arm, r.assigned_at) for r in conn.execute(stmt)]

    # -- acquisition spend ------------------------------------------------------------

    def set_spend(
        self, tenant_id: str, month: str, currency: str, amount: Decimal, now: datetime
    ) -> None:
        key = (
            acquisition_spend.c.tenant_id == tenant_id,
            acquisition_spend.c.month == month,
            acquisition_spend.c.currency == currency,
        )
        with self._engine.begin() as conn:
            done = conn.execute(
                update(acquisition_spend).where(*key).values(amount=amount, updated_at=now)
            ).rowcount
            if not done:
                conn.execute(
                    insert(acquisition_spend).values(
                        tenant_id=tenant_id,
                        month=month,
                        currency=currency,
                        amount=amount,
                        updated_at=now,
                    )
                )

    def spend(self, tenant_id: str, month: str, currency: str) -> Decimal | None:
        stmt = select(acquisition_spend.c.amount).where(
            acquisition_spend.c.tenant_id == tenant_id,
            acquisition_spend.c.month == month,
            acquisition_spend.c.currency == currency,
        )
        with self._engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return None if value is None else Decimal(value)


def _backtest(row: Any) -> BacktestRow:
    return BacktestRow(
        row.id,
        row.status,
        row.done,
        row.total,
        row.request,
        row.request_hash,
        row.result,
        row.error,
        row.created_at,
        row.updated_at,
    )


def _experiment(row: Any) -> ExperimentRow:
    return ExperimentRow(
        row.key,
        row.control_plan,
        row.treatment_plan,
        Decimal(row.share),
        row.start_at,
        row.end_at,
        row.stopped_at,
        row.request_hash,
        row.created_at,
        row.updated_at,
    )
