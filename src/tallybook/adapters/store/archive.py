"""Archived plans: ``plans.archived_at`` (customers keep theirs on the customer row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from tallybook.adapters.store.schema_catalog import plans


class PlanArchiveStore:
    """Reads and sets ``plans.archived_at``; every query is scoped to one tenant."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def archive(self, tenant_id: str, key: str, now: datetime) -> datetime | None:
        """Archive the plan (kept when already archived); its archive time, or None when the
        tenant has no such plan."""
        where = (plans.c.tenant_id == tenant_id, plans.c.key == key)
        with self._engine.begin() as conn:
            conn.execute(
                update(plans).where(*where, plans.c.archived_at.is_(None)).values(archived_at=now)
            )
            row = conn.execute(select(plans.c.archived_at).where(*where)).first()
        return None if row is None else row.archived_at

    def archived(self, tenant_id: str) -> dict[str, datetime]:
        """Every archived plan of the tenant: key -> archive time."""
        stmt = select(plans.c.key, plans.c.archived_at).where(
            plans.c.tenant_id == tenant_id, plans.c.archived_at.is_not(None)
        )
        with self._engine.connect() as conn:
            return {row.key: row.archived_at for row in conn.execute(stmt)}

    def archived_at(self, tenant_id: str, key: str) -> datetime | None:
        """When the plan was archived; None when it is not (or does not exist)."""
        stmt = select(plans.c.archived_at).where(plans.c.tenant_id == tenant_id, plans.c.key == key)
        with self._engine.connect() as conn:
            value: datetime | None = conn.execute(stmt).scalar_one_or_none()
        return value
