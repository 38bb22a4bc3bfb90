"""The composition root: settings in, wired services out. Nothing does I/O at import.

``build(settings)`` creates the engine, runs migrations and wires every adapter into the
services; the API app (``tallybook.api.app.create_app``), the CLI and the tests all go
through it, so there is exactly one place that decides what talks to what.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from tallybook.adapters.clock import Clock, SystemClock
from tallybook.adapters.store.catalog import CatalogStore
from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.events import EventStore
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.tenants import TenantStore
from tallybook.adapters.store.usage_sql import UsageSql
from tallybook.config import Settings
from tallybook.services.catalog import CatalogService
from tallybook.services.events_deadletters import DeadLetterService
from tallybook.services.events_validate import Limits
from tallybook.services.ingest import IngestService
from tallybook.services.tenants import TenantService
from tallybook.services.usage import UsageService


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    tenants: TenantService
    catalog: CatalogService
    usage: UsageService
    ingest: IngestService
    dead_letters: DeadLetterService

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Container:
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    tenants = TenantService(TenantStore(engine), clock, settings.default_grace_seconds)
    ingest = _ingest(settings, engine, clock)
    catalog = CatalogService(CatalogStore(engine), clock)
    return Container(
        settings=settings,
        engine=engine,
        clock=clock,
        tenants=tenants,
        catalog=catalog,
        usage=UsageService(UsageSql(engine), catalog),
        ingest=ingest,
        dead_letters=DeadLetterService(ingest),
    )


def _ingest(settings: Settings, engine: Engine, clock: Clock) -> IngestService:
    limits = Limits(
        max_event_bytes=settings.max_event_bytes,
        max_property_depth=settings.max_property_depth,
        max_future_micros=settings.max_future_seconds * 1_000_000,
    )
    return IngestService(EventStore(engine), clock, limits, settings.max_batch_events)
