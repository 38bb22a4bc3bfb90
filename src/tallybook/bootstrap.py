"""The composition root: settings in, wired services out. Nothing does I/O at import.

``build(settings)`` creates the engine, runs migrations and wires every adapter into the
services; the API app (``tallybook.api.app.create_app``), the CLI and the tests all go
through it, so there is exactly one place that decides what talks to what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from tallybook.adapters.clock import Clock, SystemClock
from tallybook.adapters.smtp import SmtpTransport
from tallybook.adapters.statistics import ScipyStatistics
from tallybook.adapters.store.alerts import AlertStore
from tallybook.adapters.store.analytics_sql import AnalyticsStore
from tallybook.adapters.store.archive import PlanArchiveStore
from tallybook.adapters.store.audit import AuditStore
from tallybook.adapters.store.billing import BillingStore
from tallybook.adapters.store.billing_invoices import InvoiceStore
from tallybook.adapters.store.catalog import CatalogStore
from tallybook.adapters.store.commitments import CommitmentStore
from tallybook.adapters.store.credit_notes import CreditNoteStore
from tallybook.adapters.store.credits import CreditStore
from tallybook.adapters.store.customer_portal import CustomerPortalStore
from tallybook.adapters.store.customers import CustomerStore
from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.email_deliveries import EmailDeliveryStore
from tallybook.adapters.store.entitlements import EntitlementStore
from tallybook.adapters.store.events import EventStore
from tallybook.adapters.store.finance import RevenueSource, TaxRateStore
from tallybook.adapters.store.governance import GovernanceStore
from tallybook.adapters.store.ledger_partitions import LedgerMaintenance
from tallybook.adapters.store.logos import LogoStore
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.mrr_snapshots import MrrSnapshotStore
from tallybook.adapters.store.outbox import OutboxQueue, OutboxWriter
from tallybook.adapters.store.overage_marks import OverageMarks
from tallybook.adapters.store.period_usage import PeriodUsageStore
from tallybook.adapters.store.portal_sessions import PortalSessionStore
from tallybook.adapters.store.rollups import RollupStore, RollupWriter
from tallybook.adapters.store.spend_limits import SpendLimitStore
from tallybook.adapters.store.subscriptions import SubscriptionStore
from tallybook.adapters.store.tenants import TenantStore
from tallybook.adapters.store.top_ups import TopUpStore
from tallybook.adapters.store.usage_sql import UsageSql
from tallybook.adapters.store.webhooks import WebhookStore
from tallybook.adapters.webhooks import HttpSender
from tallybook.config import Settings
from tallybook.documents.invoice_email import InvoiceMail
from tallybook.domain.webhooks import Outcome
from tallybook.services.alert_evaluator import AlertEvaluator
from tallybook.services.alerts import AlertService
from tallybook.services.analytics import AnalyticsService
from tallybook.services.archiving import ArchiveService
from tallybook.services.audit import AuditService
from tallybook.services.backtests import BacktestService
from tallybook.services.billing.invoices import BULK_THRESHOLD, InvoiceService
from tallybook.services.billing.previews import PreviewService
from tallybook.services.billing.runs import BillingService
from tallybook.services.catalog import CatalogService
from tallybook.services.commitments import CommitmentService
from tallybook.services.credits import CreditService, OpenInvoices
from tallybook.services.customers import CustomerService
from tallybook.services.entitlements import EntitlementService
from tallybook.services.experiments import ExperimentService
from tallybook.services.finance.credit_notes import CreditNoteService
from tallybook.services.finance.delivery import InvoiceEmails
from tallybook.services.finance.logos import LogoService
from tallybook.services.finance.parties import InvoiceSettings
from tallybook.services.finance.revenue import RevenueService
from tallybook.services.finance.taxes import RateTaxes, TaxRateService
from tallybook.services.governance import GovernanceService
from tallybook.services.impact import ImpactService
from tallybook.services.ingest.deadletters import DeadLetterService
from tallybook.services.ingest.service import IngestService
from tallybook.services.ingest.validate import Limits
from tallybook.services.keys import KeyService
from tallybook.services.migrations import MigrationService
from tallybook.services.mrr_snapshots import MrrSnapshotService
from tallybook.services.outbox import DeliveryWorker, WorkerOptions
from tallybook.services.overage import OverageService
from tallybook.services.overrides import OverrideService
from tallybook.services.percentiles import PercentileService
from tallybook.services.portal_sessions import CustomerPortalService, PortalSessionService
from tallybook.services.ports import UsageReader
from tallybook.services.rerating import Rerater
from tallybook.services.shared_reads import SteadyClock
from tallybook.services.spend_limits import SpendLimitService
from tallybook.services.subscriptions import SubscriptionService
from tallybook.services.sync import Payments
from tallybook.services.sync.push import SyncOptions
from tallybook.services.tenants import TenantService
from tallybook.services.top_ups import TopUpService
from tallybook.services.usage import UsageService
from tallybook.services.usage_live import LiveUsage
from tallybook.services.webhooks import WebhookService

OnOutcome = Callable[[Outcome], None]


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    tenants: TenantService
    keys: KeyService
    catalog: CatalogService
    archive: ArchiveService
    usage: UsageService
    live_usage: UsageReader
    ingest: IngestService
    dead_letters: DeadLetterService
    customers: CustomerService
    subscriptions: SubscriptionService
    billing: BillingService
    invoices: InvoiceService
    previews: PreviewService
    webhooks: WebhookService
    outbox_queue: OutboxQueue
    analytics: AnalyticsService
    percentiles: PercentileService
    backtests: BacktestService
    experiments: ExperimentService
    portal_sessions: PortalSessionService
    audit: AuditService
    governance: GovernanceService
    overrides: OverrideService
    migrations: MigrationService
    credits: CreditService
    top_ups: TopUpService
    commitments: CommitmentService
    entitlements: EntitlementService
    spend_limits: SpendLimitService
    customer_portal: CustomerPortalService
    alerts: AlertService
    alert_evaluator: AlertEvaluator
    tax_rates: TaxRateService
    invoice_settings: InvoiceSettings
    logos: LogoService
    credit_notes: CreditNoteService
    emails: InvoiceEmails
    revenue: RevenueService
    mrr_snapshots: MrrSnapshotService
    overage: OverageService
    scheduled_jobs: list[Callable[[], object]] = field(default_factory=list)
    payments: Payments | None = None  # Stripe sync, when TALLYBOOK_STRIPE_API_KEY is set
    shipper: Shipper | None = None  # set when raw events are read from ClickHouse
    events_executor: Executor | None = None
    ledger: LedgerMaintenance | None = None  # partitions ahead and retention of ``events``

    def close(self) -> None:
        self.mrr_snapshots.wait()  # a background MRR refresh finishes before the engine goes
        if self.events_executor is not None:
            self.events_executor.close()
        self.engine.dispose()

    def delivery_worker(self, on_outcome: OnOutcome | None = None) -> DeliveryWorker:
        """A webhook delivery worker on this container's store and settings."""
        s = self.settings
        options = WorkerOptions(
            batch=s.webhook_concurrency,
            per_endpoint=s.webhook_endpoint_concurrency,
            poll_interval=s.webhook_poll_seconds,
            backoff_scale=s.webhook_backoff_scale,
        )
        sender = HttpSender(s.webhook_timeout_seconds, max_connections=s.webhook_concurrency)
        if self.payments is not None:  # the provider sync follows the outbox too
            from tallybook.services.sync.worker import SyncFollower, SyncingDeliveryWorker

            follower = SyncFollower(self.payments.sync, s.webhook_poll_seconds)
            return SyncingDeliveryWorker(
                self.outbox_queue,
                sender,
                self.clock,
                options,
                on_outcome=on_outcome,
                follower=follower,
            )
        return DeliveryWorker(self.outbox_queue, sender, self.clock, options, on_outcome)


def build(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Container:
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    if migrate:
        upgrade(engine)
    given = clock = clock or SystemClock()
    clock = SteadyClock(given)  # one "now" per shared-reads page (services.shared_reads)
    outbox = OutboxWriter(enabled=settings.outbox_enabled)
    if settings.stripe_api_key is not None:  # finalizations also mark invoices for sync
        from tallybook.adapters.store.payments_marks import SyncMarkingOutbox

        outbox = SyncMarkingOutbox("stripe", enabled=settings.outbox_enabled)
    tenant_store = TenantStore(engine)
    tenants = TenantService(
        tenant_store, clock, settings.default_grace_seconds, settings.key_cache_seconds
    )
    catalog = CatalogService(CatalogStore(engine), clock)
    executor = _events_executor(settings)
    ingest, event_store = _ingest(settings, engine, clock, catalog, ship=executor is not None)
    usage = UsageService(UsageSql(engine) if executor is None else _ch_usage(executor), catalog)
    shipper = None if executor is None else _shipper(engine, executor, clock)
    live_usage: UsageReader = usage
    if settings.live_rollups:
        rollups = RollupStore(engine, writer_lock=event_store.quiet)
        live_usage = LiveUsage(usage, rollups, catalog, clock)
    tax_rate_store = TaxRateStore(engine)
    invoice_settings = InvoiceSettings(tenant_store, LogoStore(engine))
    logos = LogoService(
        LogoStore(engine), invoice_settings.seller, invoice_settings.set_logo, clock.now
    )
    billing = _billing(settings, engine, clock, catalog, usage, tenants, outbox)
    billing.finance(RateTaxes(tax_rate_store), invoice_settings)
    customer_store = CustomerStore(engine)
    customers = CustomerService(customer_store, clock, tax_rate_store)
    subscription_store = SubscriptionStore(engine, outbox)
    archive = ArchiveService(customer_store, subscription_store, PlanArchiveStore(engine), clock)
    subscriptions = SubscriptionService(
        subscription_store,
        customers,
        catalog,
        clock,
        after_end=lambda tenant, account: billing.bill_accounts(tenant, [account], clock.now()),
        plan_gate=archive.check_plan_open,
    )
    analytics_store = AnalyticsStore(engine)
    rerater = Rerater(analytics_store, catalog, usage, billing.bulk_threshold)
    experiments = ExperimentService(analytics_store, catalog, clock, ScipyStatistics())
    subscriptions.experiment_plan = experiments.plan_for
    governance_store = GovernanceStore(engine, outbox)
    impact = ImpactService(rerater, clock)
    governance = GovernanceService(
        governance_store, catalog, subscriptions, analytics_store, impact, clock
    )
    catalog.approval_gate = governance.check_direct
    subscriptions.plan_schedule = governance.plan_schedule
    overrides = OverrideService(governance_store, subscriptions, customers, catalog, clock)
    subscriptions.customer_overrides = overrides.inherited
    credit_store = CreditStore(engine)
    invoice_store = InvoiceStore(engine, outbox)
    invoices = InvoiceService(invoice_store, catalog, usage, clock)
    previews = PreviewService(
        customers,
        subscriptions,
        catalog,
        live_usage,
        clock,
        reports=usage,
        credits=credit_store,
        taxes=RateTaxes(tax_rate_store),
    )
    credits = CreditService(
        credit_store, customers, catalog, clock, drafts=OpenInvoices(invoices, previews)
    )
    alert_store = AlertStore(engine, outbox)
    alert_service = AlertService(
        alert_store, previews, subscriptions, catalog, clock, credits=credit_store
    )
    evaluator = AlertEvaluator(
        alert_service,
        alert_store,
        clock,
        poll_seconds=settings.alert_poll_seconds,
        debounce_seconds=settings.alert_debounce_seconds,
    )
    if settings.alerts_enabled:
        ingest.after_commit = evaluator.wake
    top_ups = TopUpService(TopUpStore(engine), credit_store, credits, customers, clock)
    billing.after_chunk = top_ups.check_accounts
    credits.finance_of = top_ups.finance_of = billing.finance_of  # credit_purchase taxes
    credits.after_change = top_ups.check_quietly
    invoices.after_status = top_ups.check_quietly
    spend_limits = SpendLimitService(SpendLimitStore(engine, outbox), previews, clock)
    evaluator.after_customer = spend_limits.check_quietly
    entitlements = EntitlementService(
        catalog, previews, subscriptions, live_usage, EntitlementStore(engine), spend_limits, clock
    )
    customer_portal = CustomerPortalService(
        CustomerPortalStore(engine),
        clock,
        timedelta(minutes=settings.portal_link_minutes),
        timedelta(hours=settings.portal_session_hours),
    )
    payments = build_payments(
        settings,
        engine,
        clock,
        outbox,
        customer_store,
        invoice_store,
        after_status=top_ups.check_quietly,
    )
    analytics = AnalyticsService(analytics_store, catalog, clock)
    mrr_snapshots = MrrSnapshotService(analytics, MrrSnapshotStore(engine), clock)
    # shipping first: a billing run reads what was committed before it; MRR snapshots
    # after it, so a run's invoices show in the overview at this pass
    jobs: list[Callable[[], object]] = [
        *([shipper.ship_all] if shipper else []),
        billing.run_due,
        mrr_snapshots.refresh_due,
        top_ups.run_due,
        spend_limits.sweep,
    ]
    ledger = LedgerMaintenance(engine, clock.now, settings.event_ledger_retention_months)
    if payments is not None:
        jobs += [payments.sync.run_due, payments.reconciliation.run_due]
    credit_note_store = CreditNoteStore(engine)
    credit_notes = CreditNoteService(credit_note_store, invoices, clock)
    credit_notes.prefix_of = lambda tenant: invoice_settings.seller(tenant).credit_note_prefix
    invoices.has_credit_notes = lambda tenant, invoice: bool(
        credit_note_store.of_invoices(tenant, [invoice])
    )
    outbox_queue = OutboxQueue(engine)
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    composer = InvoiceMail(
        invoices,
        customers,
        tenants,
        invoice_settings,
        credit_notes,
        sender=settings.smtp_from,
        public_url=settings.public_url,
    )
    transport = SmtpTransport(smtp_url, settings.smtp_timeout_seconds) if smtp_url else None
    emails = InvoiceEmails(EmailDeliveryStore(engine), composer, transport, clock)
    if transport is not None:  # invoice e-mails go out on the same schedule
        jobs.append(emails.run_once)
    jobs.append(ledger.run)  # last: partitions ahead, then retention (never unshipped rows)
    return Container(
        settings=settings,
        engine=engine,
        clock=given,
        tenants=tenants,
        keys=KeyService(tenant_store, tenants, clock),
        catalog=catalog,
        usage=usage,
        live_usage=live_usage,
        ingest=ingest,
        dead_letters=DeadLetterService(ingest),
        customers=customers,
        subscriptions=subscriptions,
        archive=archive,
        billing=billing,
        invoices=invoices,
        previews=previews,
        webhooks=WebhookService(WebhookStore(engine), clock, [(settings.host, settings.port)]),
        outbox_queue=outbox_queue,
        analytics=analytics,
        percentiles=PercentileService(rerater, catalog, clock, PeriodUsageStore(engine)),
        backtests=BacktestService(analytics_store, rerater, catalog, clock),
        experiments=experiments,
        portal_sessions=PortalSessionService(
            PortalSessionStore(engine), clock, timedelta(hours=settings.portal_session_hours)
        ),
        audit=AuditService(AuditStore(engine), clock),
        governance=governance,
        overrides=overrides,
        migrations=MigrationService(
            governance_store, catalog, subscriptions, analytics_store, impact, clock
        ),
        credits=credits,
        top_ups=top_ups,
        commitments=CommitmentService(CommitmentStore(engine), subscriptions, credit_store, clock),
        entitlements=entitlements,
        spend_limits=spend_limits,
        customer_portal=customer_portal,
        alerts=alert_service,
        alert_evaluator=evaluator,
        tax_rates=TaxRateService(tax_rate_store, clock),
        invoice_settings=invoice_settings,
        logos=logos,
        credit_notes=credit_notes,
        emails=emails,
        revenue=RevenueService(RevenueSource(engine)),
        mrr_snapshots=mrr_snapshots,
        overage=OverageService(OverageMarks(engine), alert_store, previews, clock),
        scheduled_jobs=jobs,
        payments=payments,
        shipper=shipper,
        ledger=ledger,
        events_executor=executor,
    )


def build_payments(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    outbox: OutboxWriter,
    customers: CustomerStore,
    invoices: InvoiceStore,
    *,
    sync_options: SyncOptions | None = None,
    after_status: Callable[[str, str], object] | None = None,
) -> Payments | None:
    """The Stripe services when ``TALLYBOOK_STRIPE_API_KEY`` is set, else None (the SDK,
    an optional extra, is imported only then)."""
    if settings.stripe_api_key is None:
        return None
    from tallybook.adapters.store.payments import SyncStore
    from tallybook.adapters.store.reconciliation import ReconciliationStore
    from tallybook.adapters.stripe.provider import StripeProvider
    from tallybook.services.sync.push import SyncService
    from tallybook.services.sync.reconcile import ReconcileOptions, ReconciliationService
    from tallybook.services.sync.webhook import ProviderWebhooks

    secret = settings.stripe_webhook_secret
    provider = StripeProvider(
        settings.stripe_api_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        webhook_secret=None if secret is None else secret.get_secret_value(),
        timeout=settings.stripe_timeout_seconds,
    )
    store = SyncStore(engine)
    options = sync_options or SyncOptions(
        concurrency=settings.stripe_concurrency,
        lease=timedelta(seconds=settings.stripe_lease_seconds),
    )
    sync = SyncService(provider, store, invoices, customers, clock, options)
    webhooks = ProviderWebhooks(provider, store, invoices, clock, after_status=after_status)
    reconciliation = ReconciliationService(
        provider,
        sync,
        webhooks,
        store,
        ReconciliationStore(engine, outbox),
        clock,
        ReconcileOptions(window_days=settings.stripe_reconcile_days),
    )
    return Payments(sync, webhooks, reconciliation)


def _events_executor(settings: Settings) -> Executor | None:
    """The ClickHouse executor of ``settings.events_url`` (tables created), or None."""
    if not settings.events_url:
        return None
    from tallybook.adapters.clickhouse.executors import ensure_schema, executor_for_url

    executor = executor_for_url(settings.events_url)
    ensure_schema(executor)
    return executor


def _ch_usage(executor: Executor) -> UsageSource:
    from tallybook.adapters.clickhouse.usage import ClickHouseUsage

    return ClickHouseUsage(executor)


def _shipper(engine: Engine, executor: Executor, clock: Clock) -> Shipper:
    from tallybook.adapters.clickhouse.shipper import Shipper

    return Shipper(engine, executor, clock.now)


def _billing(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    catalog: CatalogService,
    usage: UsageService,
    tenants: TenantService,
    outbox: OutboxWriter,
) -> BillingService:
    store = BillingStore(engine, outbox)
    # SQLite plans whole-tenant usage queries badly: read usage per chunk of customers there
    bulk = None if settings.is_sqlite else BULK_THRESHOLD
    return BillingService(store, catalog, usage, clock, tenants, bulk_threshold=bulk)


def _ingest(
    settings: Settings, engine: Engine, clock: Clock, catalog: CatalogService, *, ship: bool
) -> tuple[IngestService, EventStore]:
    limits = Limits(
        max_event_bytes=settings.max_event_bytes,
        max_property_depth=settings.max_property_depth,
        max_future_micros=settings.max_future_seconds * 1_000_000,
    )
    writer = None
    if settings.live_rollups or settings.alerts_enabled:
        writer = RollupWriter(rollups=settings.live_rollups, alerts=settings.alerts_enabled)
    store = EventStore(engine, rollups=writer, ship=ship)
    ingest = IngestService(store, clock, limits, settings.max_batch_events, plans=catalog)
    return ingest, store


if TYPE_CHECKING:
    from tallybook.adapters.clickhouse.executors import Executor
    from tallybook.adapters.clickhouse.shipper import Shipper
    from tallybook.services.exports import ExportService
    from tallybook.services.ports import UsageSource


def build_exports(container: Container) -> ExportService:
    """The warehouse export service over ``container``'s engine (pyarrow is imported only
    when exports are used)."""
    from tallybook.adapters.store.export_sql import ExportStore
    from tallybook.services.exports import ExportService

    return ExportService(ExportStore(container.engine), container.clock)
