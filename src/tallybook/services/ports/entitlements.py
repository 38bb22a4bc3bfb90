"""Entitlement and spend-limit ports (issue 10): feature overrides, spend limits and the
limits reached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.spend_limits import SpendHit, SpendLimit
from tallybook.domain.webhooks import OutboxMessage


@dataclass(frozen=True, slots=True)
class FeatureOverrideRow:
    """A customer's stored override of one feature (``domain.entitlements.Override``)."""

    customer: str
    feature: str
    enabled: bool | None
    limit: Decimal | None
    hard: bool | None
    updated_at: datetime


class EntitlementStore(Protocol):
    """Per-customer feature overrides (``adapters/store/entitlements.py``)."""

    def overrides(self, tenant_id: str, customer: str) -> dict[str, FeatureOverrideRow]: ...

    def put_override(self, tenant_id: str, row: FeatureOverrideRow) -> None:
        """Insert or replace the override of (customer, feature)."""
        ...

    def delete_override(self, tenant_id: str, customer: str, feature: str) -> bool: ...


class SpendLimitStore(Protocol):
    """Spend limits and the record of limits reached (``adapters/store/spend_limits.py``)."""

    def get(self, tenant_id: str, customer: str) -> SpendLimit | None: ...

    def put(self, tenant_id: str, customer: str, limit: SpendLimit) -> None: ...

    def delete(self, tenant_id: str, customer: str) -> bool: ...

    def record_hit(self, tenant_id: str, hit: SpendHit, message: OutboxMessage) -> bool:
        """Record ``hit`` once per (customer, period start, limit amount) and its outbox
        ``message`` in the same transaction; False (nothing written) when already there."""
        ...

    def hits(self, tenant_id: str, customer: str, *, limit: int = 20) -> list[SpendHit]:
        """The customer's most recent hits, newest first."""
        ...

    def limited_customers(
        self, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        """(tenant, customer) pairs that have a limit, in key order after ``after``."""
        ...
