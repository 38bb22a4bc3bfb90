"""Catalog ports: plan reads as domain values, catalog documents and their serialised
publishes, archived plans."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tallybook.domain.catalog.model import Meter, Plan
from tallybook.services.ports.common import JsonDict


@dataclass(frozen=True, slots=True)
class PlanVersionRow:
    """One published plan version as its stored document."""

    key: str
    version: int
    definition: JsonDict
    created_at: datetime


class PlanReader(Protocol):
    """Reads the catalog. Implemented by ``tallybook.services.catalog.CatalogService``."""

    def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Plan:
        """The plan at ``version`` (latest published when None); NotFound otherwise."""
        ...

    def get_meter(self, tenant_id: str, key: str) -> Meter:
        """NotFound when the tenant has no such meter."""
        ...

    def list_meters(self, tenant_id: str) -> list[Meter]: ...


class CatalogReads(Protocol):
    """A consistent read of one tenant's catalog documents."""

    def meter_documents(self) -> dict[str, JsonDict]: ...

    def latest_plans(self) -> dict[str, PlanVersionRow]: ...

    def versions(self, key: str) -> list[PlanVersionRow]: ...


class CatalogUnitOfWork(CatalogReads, Protocol):
    """One serialised read-then-write transaction over a tenant's catalog."""

    def upsert_meter(
        self, key: str, definition: JsonDict, now: datetime, *, exists: bool
    ) -> None: ...

    def publish_plan(self, key: str, version: int, definition: JsonDict, now: datetime) -> None: ...


class CatalogStore(Protocol):
    def meter_document(self, tenant_id: str, key: str) -> JsonDict | None: ...

    def latest_version(self, tenant_id: str, key: str) -> int | None: ...

    def plan_version(self, tenant_id: str, key: str, version: int) -> PlanVersionRow | None: ...

    def reads(self, tenant_id: str) -> AbstractContextManager[CatalogReads]: ...

    def transaction(self, tenant_id: str) -> AbstractContextManager[CatalogUnitOfWork]: ...


class PlanArchiveStore(Protocol):
    """Archived plans (by key) of a tenant."""

    def archive(self, tenant_id: str, key: str, now: datetime) -> datetime | None: ...

    def archived(self, tenant_id: str) -> dict[str, datetime]: ...

    def archived_at(self, tenant_id: str, key: str) -> datetime | None: ...
