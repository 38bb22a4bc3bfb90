"""The composition root: settings in, wired services out. Nothing does I/O at import.

``build(settings)`` creates the engine, runs migrations and wires every adapter into the
services; the API app (``tallybook.api.app.create_app``), the CLI and the tests all go
through it, so there is exactly one place that decides what talks to what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from tallybook.adapters.clock import Clock, SystemClock
from tallybook.adapters.store.billing import BillingStore
from tallybook.adapters.store.billing_invoices import InvoiceStore
from tallybook.adapters.store.catalog import CatalogStore
from tallybook.adapters.store.commitments import CommitmentStore
from tallybook.adapters.store.credits import CreditStore
from tallybook.adapters.store.customers import CustomerStore
from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.events import EventStore
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.subscriptions import SubscriptionStore
from tallybook.adapters.store.tenants import TenantStore
from tallybook.adapters.store.usage_sql import UsageSql
from tallybook.config import Settings
from tallybook.services.billing.invoices import BULK_THRESHOLD, InvoiceService
from tallybook.services.billing.previews import PreviewService
from tallybook.services.billing.runs import BillingService
from tallybook.services.catalog import CatalogService
from tallybook.services.commitments import CommitmentService
from tallybook.services.credits import CreditService, OpenInvoices
from tallybook.services.customers import CustomerService
from tallybook.services.ingest.deadletters import DeadLetterService
from tallybook.services.ingest.service import IngestService
from tallybook.services.ingest.validate import Limits
from tallybook.services.subscriptions import SubscriptionService
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
    customers: CustomerService
    subscriptions: SubscriptionService
    billing: BillingService
    invoices: InvoiceService
    previews: PreviewService
    credits: CreditService
    commitments: CommitmentService
    scheduled_jobs: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Container:
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    tenants = TenantService(TenantStore(engine), clock, settings.default_grace_seconds)
    catalog = CatalogService(CatalogStore(engine), clock)
    ingest = _ingest(settings, engine, clock, catalog)
    usage = UsageService(UsageSql(engine), catalog)
    billing = _billing(settings, engine, clock, catalog, usage, tenants)
    customers = CustomerService(CustomerStore(engine), clock)
    subscriptions = SubscriptionService(
        SubscriptionStore(engine),
        customers,
        catalog,
        clock,
        after_end=lambda tenant, account: billing.bill_accounts(tenant, [account], clock.now()),
    )
    credit_store = CreditStore(engine)
    invoices = InvoiceService(InvoiceStore(engine), catalog, usage, clock)
    previews = PreviewService(
        customers, subscriptions, catalog, usage, clock, reports=usage, credits=credit_store
    )
    credits = CreditService(
        credit_store, customers, catalog, clock, drafts=OpenInvoices(invoices, previews)
    )
    return Container(
        settings=settings,
        engine=engine,
        clock=clock,
        tenants=tenants,
        catalog=catalog,
        usage=usage,
        ingest=ingest,
        dead_letters=DeadLetterService(ingest),
        customers=customers,
        subscriptions=subscriptions,
        billing=billing,
        invoices=invoices,
        previews=previews,
        credits=credits,
        commitments=CommitmentService(CommitmentStore(engine), subscriptions, credit_store, clock),
        scheduled_jobs=[billing.run_due],
    )


def _billing(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    catalog: CatalogService,
    usage: UsageService,
    tenants: TenantService,
) -> BillingService:
    store = BillingStore(engine)
    # SQLite plans whole-tenant usage queries badly: read usage per chunk of customers there
    bulk = None if settings.is_sqlite else BULK_THRESHOLD
    return BillingService(store, catalog, usage, clock, tenants, bulk_threshold=bulk)


def _ingest(
    settings: Settings, engine: Engine, clock: Clock, catalog: CatalogService
) -> IngestService:
    limits = Limits(
        max_event_bytes=settings.max_event_bytes,
        max_property_depth=settings.max_property_depth,
        max_future_micros=settings.max_future_seconds * 1_000_000,
    )
    store = EventStore(engine)
    return IngestService(store, clock, limits, settings.max_batch_events, plans=catalog)
