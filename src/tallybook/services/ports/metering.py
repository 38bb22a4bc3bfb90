"""Metering ports: the event store (ingest writes, dead letters), raw usage, rollups, usage
aggregates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import DeadLetter, Key, NewEvent, RejectedEvent, StoredEvent
from tallybook.domain.metering.rollups import Cell, RollupDef
from tallybook.domain.metering.usage import Partial, Selection
from tallybook.services.ports.common import T


@dataclass(frozen=True, slots=True)
class UsageKey:
    """One aggregate: a customer, and a dimension value when grouped (None otherwise)."""

    customer: str
    dimension: str | None = None


class UsageSource(Protocol):
    """Raw usage per series, pushed down to the event store (SQL on SQLite/PostgreSQL)."""

    def partials(
        self,
        selection: Selection,
        aggregation: Aggregation,
        buckets: tuple[int, int] | None = None,
    ) -> list[Partial]: ...

    def readings(self, selection: Selection, *, before: bool = False) -> list[Partial]: ...


class RollupStore(Protocol):
    """Hourly usage rollups (``adapters/store/rollups.py``; ``domain.metering.rollups``)."""

    def cells(
        self,
        tenant_id: str,
        fingerprint: str,
        customers: Sequence[str] | None,
        start_hour: int,
        end_hour: int,
    ) -> list[tuple[str, tuple[str | None, ...], Cell]] | None:
        """(customer, dimension texts, cell) of the hours in ``[start_hour, end_hour)``
        (microseconds since the epoch); None when the definition is not stored yet."""
        ...

    def prepare(self, tenant_id: str, definition: RollupDef, keep: set[str], now: datetime) -> None:
        """Store ``definition`` and backfill its cells from the raw events (once); drop
        stored definitions whose fingerprint is not in ``keep``."""
        ...


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


class EventUnitOfWork(Protocol):
    """One open write transaction over the event store."""

    def insert(self, rows: Sequence[NewEvent]) -> tuple[int, dict[Key, str]]:
        """Insert the events whose keys are new: how many went in and, when some keys
        already existed, the stored body hash of every key of ``rows``."""
        ...

    def dead_letters(self, letters: Sequence[DeadLetter]) -> list[str]: ...

    def resolve(self, rejected_id: str, status: str, at: datetime) -> bool:
        """Move an open dead letter to ``replayed`` or ``discarded``; False if not open."""
        ...


class EventStore(Protocol):
    def quiet(self) -> AbstractContextManager[Any]:
        """Hold off writes while a short read runs (SQLite's single writer)."""
        ...

    def write_batch(self, tenant_id: str, received_micros: int, batch: EventBatch) -> BatchResult:
        """Store a request's events exactly once (``domain.metering.dedupe``); the result
        after the commit."""
        ...

    def transaction(
        self, tenant_id: str, received_micros: int
    ) -> AbstractContextManager[EventUnitOfWork]: ...

    def run_transaction(
        self, tenant_id: str, received_micros: int, work: Callable[[EventUnitOfWork], T]
    ) -> T:
        """``work`` in its own write transaction, retried from the start after a deadlock
        or serialization failure; a domain error it raises rolls back and propagates."""
        ...

    def list_events(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        event_type: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[int, str, str] | None = None,
        newest_first: bool = True,
        limit: int = 100,
    ) -> list[StoredEvent]: ...

    def list_rejected(
        self, tenant_id: str, *, status: str | None = None, before: str | None = None, limit: int
    ) -> list[RejectedEvent]: ...

    def get_rejected(self, tenant_id: str, rejected_id: str) -> RejectedEvent | None: ...
