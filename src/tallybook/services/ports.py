"""Interfaces between services (and the adapters behind them).

Each area implements its side; the others code against these Protocols only, so the
ingest, catalog/usage and billing services can change their storage freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.catalog.model import Meter, Plan


@dataclass(frozen=True, slots=True)
class UsageKey:
    """One aggregate: a customer, and a dimension value when grouped (None otherwise)."""

    customer: str
    dimension: str | None = None


class UsageReader(Protocol):
    """Aggregates stored events of one meter over half-open windows ``[start, end)``.

    Implemented by ``tallybook.services.usage.UsageService`` (SQL pushdown on SQLite and
    PostgreSQL). Billing, previews and the usage endpoints all read usage through this.
    """

    def aggregate(
        self,
        tenant_id: str,
        meter: Meter,
        start: datetime,
        end: datetime,
        *,
        customers: Sequence[str] | None = None,
        group_by: str | None = None,
    ) -> Mapping[UsageKey, Decimal]:
        """Aggregate per customer (and per ``group_by`` value); customers with no events
        are absent (callers treat them as zero; for count/sum that is exact)."""
        ...

    def event_values(
        self, tenant_id: str, meter: Meter, customer: str, start: datetime, end: datetime
    ) -> list[Decimal]:
        """Per-event values (for the percentage model's per-event min/max/fixed fee)."""
        ...


class PlanReader(Protocol):
    """Reads the catalog. Implemented by ``tallybook.services.catalog.CatalogService``."""

    def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Plan:
        """The plan at ``version`` (latest published when None); NotFound otherwise."""
        ...

    def get_meter(self, tenant_id: str, key: str) -> Meter:
        """NotFound when the tenant has no such meter."""
        ...

    def list_meters(self, tenant_id: str) -> list[Meter]: ...
