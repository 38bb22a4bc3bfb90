"""Top-up rules (SQLAlchemy Core): one row per customer in ``credit_top_ups``.

A rule is written with the customer's row locked (``lock_customer``), so two ``PUT``s of
one customer's rule serialise; the amounts are in the customer's currency, read with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from tallybook.adapters.store.credits import lock_customer
from tallybook.adapters.store.schema_billing import customers
from tallybook.adapters.store.schema_credits import credit_top_ups
from tallybook.domain.credits.top_up import TopUpRule

_COLUMNS = (
    credit_top_ups.c.customer_id,
    customers.c.currency,
    credit_top_ups.c.threshold,
    credit_top_ups.c.target,
    credit_top_ups.c.created_at,
    credit_top_ups.c.updated_at,
)


def _rule(row: Any) -> TopUpRule:
    return TopUpRule(
        customer=row.customer_id,
        currency=row.currency,
        threshold=Decimal(row.threshold),
        target=Decimal(row.target),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class TopUpStore:
    """``services.top_ups.TopUpStore``: read, write and delete top-up rules."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def _select(self, tenant_id: str) -> Any:
        return (
            select(*_COLUMNS)
            .join(
                customers,
                (customers.c.tenant_id == credit_top_ups.c.tenant_id)
                & (customers.c.id == credit_top_ups.c.customer_id),
            )
            .where(credit_top_ups.c.tenant_id == tenant_id)
        )

    def get(self, tenant_id: str, customer: str) -> TopUpRule | None:
        stmt = self._select(tenant_id).where(credit_top_ups.c.customer_id == customer)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _rule(row)

    def of_customers(self, tenant_id: str, customers_: Sequence[str]) -> list[TopUpRule]:
        """The rules of some customers (those that have one)."""
        if not customers_:
            return []
        stmt = self._select(tenant_id).where(credit_top_ups.c.customer_id.in_(list(customers_)))
        with self._engine.connect() as conn:
            return [_rule(row) for row in conn.execute(stmt)]

    def holders(self) -> list[tuple[str, str]]:
        """(tenant, customer) of every rule, for the scheduled check."""
        stmt = select(credit_top_ups.c.tenant_id, credit_top_ups.c.customer_id).order_by(
            credit_top_ups.c.tenant_id, credit_top_ups.c.customer_id
        )
        with self._engine.connect() as conn:
            return [(row.tenant_id, row.customer_id) for row in conn.execute(stmt)]

    def put(self, tenant_id: str, rule: TopUpRule) -> TopUpRule:
        """Create or replace the customer's rule; returns it as stored (``created_at`` kept)."""
        key = (credit_top_ups.c.tenant_id == tenant_id) & (
            credit_top_ups.c.customer_id == rule.customer
        )
        with self._engine.begin() as conn:
            lock_customer(conn, tenant_id, rule.customer)
            created = conn.execute(select(credit_top_ups.c.created_at).where(key)).scalar()
            if created is None:
                conn.execute(
                    insert(credit_top_ups).values(
                        tenant_id=tenant_id,
                        customer_id=rule.customer,
                        threshold=rule.threshold,
                        target=rule.target,
                        created_at=rule.created_at,
                        updated_at=rule.updated_at,
                    )
                )
                return rule
            conn.execute(
                update(credit_top_ups)
                .where(key)
                .values(threshold=rule.threshold, target=rule.target, updated_at=rule.updated_at)
            )
        return TopUpRule(
            rule.customer, rule.currency, rule.threshold, rule.target, created, rule.updated_at
        )

    def delete(self, tenant_id: str, customer: str) -> bool:
        """Remove the customer's rule; whether there was one."""
        stmt = delete(credit_top_ups).where(
            credit_top_ups.c.tenant_id == tenant_id, credit_top_ups.c.customer_id == customer
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)
