"""Governance on SQL: tenant guard rails, catalog changes, price overrides.

- A decision (approve, reject) is one conditional ``UPDATE ... WHERE status =
  'pending_approval'``: of two racing approvers exactly one changes the row. What the
  approval published is recorded with its ``catalog.change_approved`` outbox message in
  one transaction (``set_versions``), so no message announces an unpublished change.
- Overrides of one (level, target, charge) are inserted under a lock (a PostgreSQL
  advisory transaction lock per target; SQLite's ``BEGIN IMMEDIATE``), after checking
  that none overlaps in time, so two concurrent overlapping overrides cannot both land.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, and_, delete, insert, or_, select, text, update

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_governance import (
    catalog_changes,
    governance_settings,
    price_overrides,
)
from tallybook.domain.governance.changes import GuardRails
from tallybook.domain.webhooks import OutboxMessage
from tallybook.services.ports import ChangeRow, JsonDict, PriceOverrideRow

_OVERRIDE_LOCK_SPACE = 724_119_012
PENDING = "pending_approval"


def _lock_key(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _change(row: Row[Any]) -> ChangeRow:
    return ChangeRow(
        id=row.id,
        kind=row.kind,
        status=row.status,
        author_key=row.author_key,
        author=row.author,
        document=row.document,
        effective_at=row.effective_at,
        timing=row.timing,
        existing=row.existing,
        reason=row.reason,
        diff=row.diff,
        checks=list(row.checks),
        impact=row.impact,
        created_at=row.created_at,
        versions=row.versions,
        decided_key=row.decided_key,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def _override(row: Row[Any]) -> PriceOverrideRow:
    return PriceOverrideRow(
        id=row.id,
        level=row.level,
        target=row.target,
        charge=row.charge,
        kind=row.kind,
        multiplier=row.multiplier,
        price=row.price,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        created_at=row.created_at,
    )


class GovernanceStore:
    """``ports.GovernanceStore`` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, outbox: OutboxWriter):
        self._engine = engine
        self._outbox = outbox

    # -- guard rails ------------------------------------------------------------------

    def guard_rails(self, tenant_id: str) -> GuardRails:
        stmt = select(governance_settings).where(governance_settings.c.tenant_id == tenant_id)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return GuardRails()
        return GuardRails(
            require_approval=bool(row.require_approval),
            max_increase_pct=row.max_increase_pct,
            max_decrease_pct=row.max_decrease_pct,
            min_notice_days=row.min_notice_days,
        )

    def put_guard_rails(self, tenant_id: str, rails: GuardRails, now: datetime) -> None:
        values = {
            "require_approval": rails.require_approval,
            "max_increase_pct": rails.max_increase_pct,
            "max_decrease_pct": rails.max_decrease_pct,
            "min_notice_days": rails.min_notice_days,
            "updated_at": now,
        }
        with self._engine.begin() as conn:
            done = conn.execute(
                update(governance_settings)
                .where(governance_settings.c.tenant_id == tenant_id)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(insert(governance_settings).values(tenant_id=tenant_id, **values))

    # -- catalog changes --------------------------------------------------------------

    def insert_change(self, tenant_id: str, row: ChangeRow) -> None:
        values = {name: getattr(row, name) for name in ChangeRow.__dataclass_fields__}
        with self._engine.begin() as conn:
            conn.execute(insert(catalog_changes).values(tenant_id=tenant_id, **values))

    def get_change(self, tenant_id: str, change_id: str) -> ChangeRow | None:
        stmt = select(catalog_changes).where(
            catalog_changes.c.tenant_id == tenant_id, catalog_changes.c.id == change_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _change(row)

    def page_changes(
        self, tenant_id: str, *, status: str | None, after: str | None, limit: int
    ) -> list[ChangeRow]:
        c = catalog_changes.c
        stmt = select(catalog_changes).where(c.tenant_id == tenant_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if after is not None:
            stmt = stmt.where(c.id > after)
        with self._engine.connect() as conn:
            return [_change(r) for r in conn.execute(stmt.order_by(c.id).limit(limit))]

    def approved_changes(self, tenant_id: str) -> list[ChangeRow]:
        c = catalog_changes.c
        stmt = (
            select(catalog_changes)
            .where(c.tenant_id == tenant_id, c.status == "approved")
            .order_by(c.effective_at, c.id)
        )
        with self._engine.connect() as conn:
            return [_change(r) for r in conn.execute(stmt)]

    def decide(
        self,
        tenant_id: str,
        change_id: str,
        status: str,
        *,
        key: str,
        by: str,
        at: datetime,
        reason: str | None,
    ) -> bool:
        c = catalog_changes.c
        stmt = (
            update(catalog_changes)
            .where(c.tenant_id == tenant_id, c.id == change_id, c.status == PENDING)
            .values(
                status=status,
                decided_key=key,
                decided_by=by,
                decided_at=at,
                decision_reason=reason,
            )
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def reopen(self, tenant_id: str, change_id: str) -> None:
        c = catalog_changes.c
        with self._engine.begin() as conn:
            conn.execute(
                update(catalog_changes)
                .where(c.tenant_id == tenant_id, c.id == change_id)
                .values(
                    status=PENDING,
                    decided_key=None,
                    decided_by=None,
                    decided_at=None,
                    decision_reason=None,
                )
            )

    def set_versions(
        self,
        tenant_id: str,
        change_id: str,
        versions: JsonDict,
        now: datetime,
        messages: Sequence[OutboxMessage] = (),
    ) -> None:
        c = catalog_changes.c
        with self._engine.begin() as conn:
            conn.execute(
                update(catalog_changes)
                .where(c.tenant_id == tenant_id, c.id == change_id)
                .values(versions=versions)
            )
            self._outbox.add(conn, tenant_id, list(messages), now)

    # -- overrides --------------------------------------------------------------------

    def insert_override(self, tenant_id: str, row: PriceOverrideRow) -> PriceOverrideRow | None:
        o = price_overrides.c
        overlapping = select(price_overrides).where(
            o.tenant_id == tenant_id,
            o.level == row.level,
            o.target == row.target,
            o.charge == row.charge,
            or_(o.valid_to.is_(None), o.valid_to > row.valid_from),
        )
        if row.valid_to is not None:
            overlapping = overlapping.where(o.valid_from < row.valid_to)
        values = {name: getattr(row, name) for name in PriceOverrideRow.__dataclass_fields__}
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:space, :key)"),
                    {
                        "space": _OVERRIDE_LOCK_SPACE,
                        "key": _lock_key(tenant_id, row.level, row.target),
                    },
                )
            found = conn.execute(overlapping.limit(1)).first()
            if found is not None:
                return _override(found)
            conn.execute(insert(price_overrides).values(tenant_id=tenant_id, **values))
        return None

    def overrides(
        self, tenant_id: str, level: str, targets: Sequence[str]
    ) -> list[PriceOverrideRow]:
        if not targets:
            return []
        o = price_overrides.c
        stmt = (
            select(price_overrides)
            .where(and_(o.tenant_id == tenant_id, o.level == level, o.target.in_(list(targets))))
            .order_by(o.target, o.charge, o.valid_from)
        )
        with self._engine.connect() as conn:
            return [_override(r) for r in conn.execute(stmt)]

    def delete_override(self, tenant_id: str, level: str, target: str, override_id: str) -> bool:
        o = price_overrides.c
        stmt = delete(price_overrides).where(
            o.tenant_id == tenant_id, o.level == level, o.target == target, o.id == override_id
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)
