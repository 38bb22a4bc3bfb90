"""Customers repository (SQLAlchemy Core). Every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.schema_billing import customers
from tallybook.domain.errors import Conflict
from tallybook.domain.finance.parties import BuyerDetails
from tallybook.domain.subscriptions.model import Customer


def customer_from_row(row: Any) -> Customer:
    return Customer(
        id=row.id,
        currency=row.currency,
        timezone=row.timezone,
        name=row.name,
        email=row.email,
        parent=row.parent_id,
        created_at=row.created_at,
        archived_at=row.archived_at,
        billing=BuyerDetails.from_dict(row.billing),
    )


class CustomerStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def insert(self, tenant_id: str, customer: Customer) -> None:
        values = {
            "tenant_id": tenant_id,
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "currency": customer.currency,
            "timezone": customer.timezone,
            "parent_id": customer.parent,
            "created_at": customer.created_at,
            "billing": customer.billing.to_dict(),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(customers).values(values))
        except IntegrityError:
            raise Conflict(
                f"customer {customer.id!r} already exists",
                code="customer_exists",
                details={"customer": customer.id},
            ) from None

    def get(self, tenant_id: str, customer_id: str) -> Customer | None:
        with self._engine.connect() as conn:
            return get_customer(conn, tenant_id, customer_id)

    def get_many(self, tenant_id: str, ids: Iterable[str]) -> dict[str, Customer]:
        wanted = sorted(set(ids))
        found: dict[str, Customer] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                stmt = select(customers).where(
                    customers.c.tenant_id == tenant_id, customers.c.id.in_(chunk)
                )
                for row in conn.execute(stmt):
                    found[row.id] = customer_from_row(row)
        return found

    def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        parent: str | None = None,
        email: str | None = None,
        query: str | None = None,
        include_archived: bool = True,
    ) -> Sequence[Customer]:
        """Customers by id after ``starting_after``. ``email`` matches exactly (ignoring
        case); ``query`` is a case-insensitive substring of the id or the name."""
        stmt = select(customers).where(customers.c.tenant_id == tenant_id)
        if starting_after is not None:
            stmt = stmt.where(customers.c.id > starting_after)
        if parent is not None:
            stmt = stmt.where(customers.c.parent_id == parent)
        if email is not None:
            stmt = stmt.where(func.lower(customers.c.email) == email.lower())
        if query is not None:
            needle = query.lower()
            stmt = stmt.where(
                or_(
                    func.lower(customers.c.id).contains(needle, autoescape=True),
                    func.lower(customers.c.name).contains(needle, autoescape=True),
                )
            )
        if not include_archived:
            stmt = stmt.where(customers.c.archived_at.is_(None))
        stmt = stmt.order_by(customers.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [customer_from_row(row) for row in conn.execute(stmt)]

    def update(self, tenant_id: str, customer_id: str, values: dict[str, Any]) -> Customer | None:
        """Set the given columns (``name``, ``email``, ``timezone``, ``archived_at``,
        ``billing``: a ``BuyerDetails``); the
        customer as stored afterwards, or None when there is no such customer."""
        if isinstance(values.get("billing"), BuyerDetails):
            values = {**values, "billing": values["billing"].to_dict()}
        stmt = (
            update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .values(values)
        )
        with self._engine.begin() as conn:
            if values:
                conn.execute(stmt)
            return get_customer(conn, tenant_id, customer_id)


def get_customer(conn: Connection, tenant_id: str, customer_id: str) -> Customer | None:
    stmt = select(customers).where(
        customers.c.tenant_id == tenant_id, customers.c.id == customer_id
    )
    row = conn.execute(stmt).first()
    return None if row is None else customer_from_row(row)
