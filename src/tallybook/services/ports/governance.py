"""Governance ports (issue 12): the audit chain, catalog changes, price overrides."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.governance.audit import AuditEntry, AuditRecord, StoredLink
from tallybook.domain.governance.changes import GuardRails
from tallybook.domain.webhooks import OutboxMessage
from tallybook.services.ports.common import JsonDict


class AuditStore(Protocol):
    """The per-tenant hash-chained audit log (``adapters/store/audit.py``). Appends lock
    the tenant's chain head (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
    so concurrent appends never fork the chain."""

    def append(
        self, tenant_id: str, records: Sequence[AuditRecord], now: datetime
    ) -> list[AuditEntry]:
        """Seal and store ``records`` in order at the head of the chain, in one transaction."""
        ...

    def page(
        self,
        tenant_id: str,
        *,
        object: str | None,
        actor: str | None,
        start: datetime | None,
        end: datetime | None,
        after_seq: int | None,
        limit: int,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Entries by ``seq`` matching the filters (``at`` in ``[start, end)``; ``action``
        a case-insensitive substring of the entry's action)."""
        ...

    def links(self, tenant_id: str) -> Iterator[StoredLink]:
        """Every entry of the tenant as stored, in ``seq`` order (streamed in batches)."""
        ...

    def head_seq(self, tenant_id: str) -> int:
        """The ``seq`` the chain head names (0 before the first entry)."""
        ...


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """A stored catalog change (``services/governance.py`` reads and writes it)."""

    id: str
    kind: str  # change | rollback
    status: str  # pending_approval | approved | rejected (stored statuses)
    author_key: str
    author: str
    document: JsonDict
    effective_at: datetime
    timing: str
    existing: str
    reason: str | None
    diff: JsonDict
    checks: list[JsonDict]
    impact: JsonDict
    created_at: datetime
    versions: JsonDict | None = None  # plan key -> {"from", "to", "migrated", "skipped"}
    decided_key: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PriceOverrideRow:
    """A stored price override of one charge for a customer or a subscription."""

    id: str
    level: str  # subscription | customer
    target: str
    charge: str
    kind: str  # multiplier | overwrite
    multiplier: Decimal | None
    price: JsonDict | None
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime


class GovernanceStore(Protocol):
    """Governance settings, catalog changes and price overrides
    (``adapters/store/governance.py``)."""

    def guard_rails(self, tenant_id: str) -> GuardRails: ...

    def put_guard_rails(self, tenant_id: str, rails: GuardRails, now: datetime) -> None: ...

    def insert_change(self, tenant_id: str, row: ChangeRow) -> None: ...

    def get_change(self, tenant_id: str, change_id: str) -> ChangeRow | None: ...

    def page_changes(
        self, tenant_id: str, *, status: str | None, after: str | None, limit: int
    ) -> list[ChangeRow]: ...

    def approved_changes(self, tenant_id: str) -> list[ChangeRow]: ...

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
        """Move a ``pending_approval`` change to ``status`` (a conditional update: of two
        racing deciders exactly one gets True)."""
        ...

    def reopen(self, tenant_id: str, change_id: str) -> None:
        """Back to ``pending_approval`` (an approval whose publication failed)."""
        ...

    def set_versions(
        self,
        tenant_id: str,
        change_id: str,
        versions: JsonDict,
        now: datetime,
        messages: Sequence[OutboxMessage] = (),
    ) -> None:
        """Record what an approval published (and migrated); ``messages`` go to the
        outbox in the same transaction (``catalog.change_approved``)."""
        ...

    def insert_override(self, tenant_id: str, row: PriceOverrideRow) -> PriceOverrideRow | None:
        """Insert unless an override of the same level, target and charge overlaps it in
        time (checked under a lock); returns the overlapping row, or None when inserted."""
        ...

    def overrides(
        self, tenant_id: str, level: str, targets: Sequence[str]
    ) -> list[PriceOverrideRow]: ...

    def delete_override(
        self, tenant_id: str, level: str, target: str, override_id: str
    ) -> bool: ...
