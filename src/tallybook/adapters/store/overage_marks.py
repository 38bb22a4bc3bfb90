"""Customers over an allowance now (``ports.OverageMarks``), from ``fired_alerts``.

The alert evaluator rates a customer whenever its usage changes and records the default
allowance alerts it fires (``default:allowance:<charge>`` at 80 and 100 %, one row per
period); a customer is over an allowance now when the 100 % row of a period holding now
exists. One query pages the customers in SQL (by id), another reads their marks with
their names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, and_, select

from tallybook.adapters.store.schema_billing import customers as c
from tallybook.adapters.store.schema_rollups import fired_alerts as f
from tallybook.domain.alerts import DEFAULT_PREFIX, threshold_text
from tallybook.services.ports import OverMark

OVER = threshold_text(Decimal(100))


class OverageMarks:
    """``ports.OverageMarks`` over SQLAlchemy Core (SQLite and PostgreSQL)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def over_allowance(
        self, tenant_id: str, now: datetime, *, limit: int, after: str | None
    ) -> Sequence[OverMark]:
        current = and_(
            f.c.tenant_id == tenant_id,
            f.c.alert_id.startswith(DEFAULT_PREFIX, autoescape=True),
            f.c.threshold == OVER,
            f.c.period_start <= now,
            f.c.period_end > now,
        )
        page = select(f.c.customer_id).where(current).distinct().order_by(f.c.customer_id)
        if after is not None:
            page = page.where(f.c.customer_id > after)
        chosen = page.limit(limit).subquery()
        stmt = (
            select(f.c.customer_id, c.c.name, f.c.charge, f.c.value, f.c.limit, f.c.fired_at)
            .join(chosen, chosen.c.customer_id == f.c.customer_id)
            .outerjoin(c, and_(c.c.tenant_id == f.c.tenant_id, c.c.id == f.c.customer_id))
            .where(current)
            .order_by(f.c.customer_id, f.c.charge)
        )
        with self._engine.connect() as conn:
            return [
                OverMark(
                    row.customer_id,
                    row.name,
                    row.charge or "",
                    row.value,
                    row.limit if row.limit is not None else Decimal(0),
                    row.fired_at,
                )
                for row in conn.execute(stmt)
            ]
