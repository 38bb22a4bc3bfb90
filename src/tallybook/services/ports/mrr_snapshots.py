"""MRR snapshot port: the overview's stored MRR/retention figures (issue 14)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """One tenant's stored MRR snapshot: when it was computed and its document
    (``services.mrr_snapshots`` writes and reads its shape; amounts as decimal strings)."""

    computed_at: datetime
    document: dict[str, Any]


class MrrSnapshotStore(Protocol):
    """The ``mrr_snapshots`` table (``adapters/store/mrr_snapshots.py``)."""

    def get(self, tenant_id: str) -> StoredSnapshot | None:
        """The tenant's snapshot, None before the first computation."""
        ...

    def put(self, tenant_id: str, snapshot: StoredSnapshot) -> None:
        """Write (or replace) the tenant's snapshot."""
        ...

    def stale_tenants(self, older_than: datetime) -> list[str]:
        """Tenants with subscriptions whose snapshot is missing, computed before
        ``older_than``, or older than an invoice's finalization or void."""
        ...
