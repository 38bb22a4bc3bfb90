"""Alert ports (issue 10): alert rules, fired alerts, and the customers ingest marked for
evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tallybook.domain.alerts import Alert, Fired


@dataclass(frozen=True, slots=True)
class PendingAlerts:
    """A customer whose usage changed, and the marks (one per ingest transaction) an
    evaluator claimed for it."""

    tenant_id: str
    customer: str
    marks: tuple[str, ...]


class AlertStore(Protocol):
    """Alert rules, the tenant's default-alert setting and fired alerts
    (``adapters/store/alerts.py``)."""

    def insert_alert(self, tenant_id: str, alert: Alert, request_hash: str) -> bool:
        """Store a new alert; False when the id is taken."""
        ...

    def get_alert(self, tenant_id: str, alert_id: str) -> tuple[Alert, str] | None:
        """The alert and its request hash."""
        ...

    def page_alerts(self, tenant_id: str, *, limit: int, after: str | None) -> list[Alert]: ...

    def all_alerts(self, tenant_id: str) -> list[Alert]: ...

    def delete_alert(self, tenant_id: str, alert_id: str) -> bool: ...

    def default_allowance(self, tenant_id: str) -> bool:
        """Whether the default 80/100 % allowance alerts are on (default: on)."""
        ...

    def set_default_allowance(self, tenant_id: str, enabled: bool, now: datetime) -> None: ...

    def fired_keys(
        self, tenant_id: str, customer: str, period_starts: Sequence[datetime]
    ) -> set[tuple[str, str, datetime]]:
        """(alert, threshold text, period start) already fired for the customer."""
        ...

    def fire(self, tenant_id: str, fired: Sequence[Fired], now: datetime) -> list[Fired]:
        """Insert fired rows in order, each unless its (alert, customer, threshold,
        period) is taken, and an ``alert.triggered`` outbox row for each inserted, in one
        transaction; returns those inserted."""
        ...

    def page_fired(
        self, tenant_id: str, customer: str, *, limit: int, before: str | None
    ) -> list[Fired]:
        """Fired alerts of a customer, newest first (``before``: the last id shown)."""
        ...


class AlertQueue(Protocol):
    """Customers to evaluate (marked in the ingest transaction; ``alert_pending``)."""

    def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[PendingAlerts]:
        """Take up to ``limit`` unclaimed (or lease-expired) customers for a lease."""
        ...

    def done(self, pending: PendingAlerts) -> None:
        """Delete the claimed marks (marks ingest wrote meanwhile stay for the next pass)."""
        ...

    def release(self, pending: PendingAlerts) -> None:
        """Give the claim back (evaluation failed: try again later)."""
        ...
