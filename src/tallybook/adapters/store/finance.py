"""Tax rates repository (``ports.TaxRateStore``) and what revenue recognition reads
(``ports.RevenueSource``); credit notes live in ``credit_notes``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.billing_invoices import invoice_from_row
from tallybook.adapters.store.credit_notes import notes_of
from tallybook.adapters.store.schema_billing import customers, invoices
from tallybook.adapters.store.schema_finance import tax_rates
from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.finance.taxes import TaxRate

FINAL = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value)


def rate_from_row(row: Any) -> TaxRate:
    return TaxRate(
        id=row.id,
        name=row.name,
        percentage=Decimal(row.percentage),
        inclusive=bool(row.inclusive),
        country=row.country,
        description=row.description,
        created_at=row.created_at,
    )


class TaxRateStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def get(self, tenant_id: str, rate_id: str) -> TaxRate | None:
        stmt = select(tax_rates).where(
            tax_rates.c.tenant_id == tenant_id, tax_rates.c.id == rate_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else rate_from_row(row)

    def insert(self, tenant_id: str, rate: TaxRate) -> TaxRate | None:
        """Store ``rate``; None when a rate with its id exists."""
        values = {
            "tenant_id": tenant_id,
            "id": rate.id,
            "name": rate.name,
            "percentage": rate.percentage,
            "inclusive": rate.inclusive,
            "country": rate.country,
            "description": rate.description,
            "created_at": rate.created_at,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(tax_rates).values(values))
        except IntegrityError:
            return None
        return rate

    def all(self, tenant_id: str) -> dict[str, TaxRate]:
        stmt = select(tax_rates).where(tax_rates.c.tenant_id == tenant_id)
        with self._engine.connect() as conn:
            return {row.id: rate_from_row(row) for row in conn.execute(stmt)}

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[TaxRate]:
        stmt = select(tax_rates).where(tax_rates.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(tax_rates.c.id > after)
        stmt = stmt.order_by(tax_rates.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [rate_from_row(row) for row in conn.execute(stmt)]


class RevenueSource:
    """``ports.RevenueSource`` in SQL."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def revenue_data(
        self, tenant_id: str, start: datetime, end: datetime
    ) -> tuple[list[Invoice], list[CreditNote], dict[str, str]]:
        stmt = (
            select(invoices)
            .where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.status.in_(FINAL),
                invoices.c.period_start < end,
                invoices.c.period_end > start,
            )
            .order_by(invoices.c.number)
        )
        with self._engine.connect() as conn:
            found = [invoice_from_row(row) for row in conn.execute(stmt)]
            ids = [i.id for i in found]
            notes = [
                n
                for at in range(0, len(ids), 500)
                for n in notes_of(conn, tenant_id, ids[at : at + 500])
            ]
            wanted = sorted({i.customer for i in found})
            zones: dict[str, str] = {}
            for at in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(customers.c.id, customers.c.timezone).where(
                        customers.c.tenant_id == tenant_id,
                        customers.c.id.in_(wanted[at : at + 500]),
                    )
                )
                zones.update({row.id: row.timezone for row in rows})
        return found, notes, zones
