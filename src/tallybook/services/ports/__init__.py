"""Ports: what the services need from the world, declared as Protocols.

Services depend on these and on ``domain/`` only (``tests/unit/test_layers.py``);
``adapters/`` implement them and ``bootstrap.py`` injects the implementations. Control
flows down: a service opens a unit of work, asks a port for data, calls pure domain
functions, and tells the port what to write. No adapter calls back into a service.

    Clock                  now (a fixed clock in tests, scenarios and billing runs)
    EventStore             ingest writes (group commit) and event/dead-letter reads
    EventUnitOfWork        one write transaction over events (dead-letter replay/discard)
    UsageSource            raw usage partials per series (SQL pushdown)
    UsageReader            meter aggregates over windows (billing, previews, usage API)
    RollupStore            hourly usage rollups (live usage; issue 10)
    AlertStore, AlertQueue alert rules, fired alerts; customers to evaluate (issue 10)
    PlanReader             the catalog as domain values
    CatalogStore           catalog documents; CatalogUnitOfWork for serialised publishes
    CustomerStore, SubscriptionStore, TenantStore, InvoiceStore   repositories
    BillingStore           what is due; BillingUnitOfWork: one chunk's transaction
    AnalyticsStore         analytics reads; backtest, experiment and spend rows (issue 13)
    ExportStore            warehouse export reads; Statistics: experiment p-values
    AuditStore, GovernanceStore  the audit chain; governance settings, catalog changes,
                           price overrides (issue 12)
    CreditStore            the credits ledger; CreditUnitOfWork: one customer's locked ledger (issue 9)
    PaymentProvider        a payment provider (Stripe): customers, invoices, events
    SyncStore              per-invoice sync state, customer ids, seen provider events
    ReconciliationStore    reconciliation runs and their rows (with the ``reconciliation.drift``
                           outbox message in the run's transaction)
    EntitlementStore       per-customer feature overrides (issue 10)
    SpendLimitStore        spend limits and the limits reached, with their outbox rows
    CustomerPortalStore    single-use customer portal links and the sessions they open
    MrrSnapshotStore       the overview's stored MRR/retention snapshot per tenant (issue 14)
    OverageMarks           customers over an allowance now, from fired allowance alerts

One module per capability holds its ports and the records that cross the boundary
(``common``: the clock and ``JsonDict``; ``metering``, ``catalog``, ``customers``, ``tenants``,
``billing``, ``credits``, ``webhooks``, ``alerts``, ``entitlements``, ``analytics``,
``governance``, ``finance``, ``payments``); this package re-exports every name, so services
and adapters import ``from tallybook.services.ports import X``. Records live in ``domain/``
instead when the domain computes with them (``domain.metering.usage``,
``domain.subscriptions.stored``, ``domain.metering.events``, ``domain.billing.drafts``).
"""

from __future__ import annotations

from tallybook.services.ports.alerts import (
    AlertQueue,
    AlertStore,
    PendingAlerts,
)
from tallybook.services.ports.analytics import (
    AnalyticsStore,
    BacktestRow,
    ExperimentRow,
    ExportColumn,
    ExportKind,
    ExportStore,
    PeriodUsageReader,
    RevenueMonth,
    Statistics,
)
from tallybook.services.ports.billing import (
    AccountState,
    BillingStore,
    BillingUnitOfWork,
    InvoiceStore,
)
from tallybook.services.ports.catalog import (
    CatalogReads,
    CatalogStore,
    CatalogUnitOfWork,
    PlanArchiveStore,
    PlanReader,
    PlanVersionRow,
)
from tallybook.services.ports.common import (
    Clock,
    JsonDict,
    T,
    UnitOfWork,
)
from tallybook.services.ports.credits import (
    CreditStore,
    CreditUnitOfWork,
    TopUpStore,
)
from tallybook.services.ports.customers import (
    CustomerStore,
    SubscriptionStore,
    SubscriptionUnitOfWork,
)
from tallybook.services.ports.entitlements import (
    EntitlementStore,
    FeatureOverrideRow,
    SpendLimitStore,
)
from tallybook.services.ports.finance import (
    CreditNoteStore,
    CreditNoteUnitOfWork,
    DraftTaxes,
    EmailQueue,
    LogoStore,
    MailComposer,
    MailTransport,
    RevenueSource,
    TaxCalculator,
    TaxRateStore,
)
from tallybook.services.ports.governance import (
    AuditStore,
    ChangeRow,
    GovernanceStore,
    PriceOverrideRow,
)
from tallybook.services.ports.metering import (
    EventStore,
    EventUnitOfWork,
    RollupStore,
    UsageKey,
    UsageReader,
    UsageSource,
)
from tallybook.services.ports.mrr_snapshots import (
    MrrSnapshotStore,
    StoredSnapshot,
)
from tallybook.services.ports.overage import (
    OverageMarks,
    OverMark,
)
from tallybook.services.ports.payments import (
    Claim,
    LocalInvoice,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    PushLine,
    ReconciliationRow,
    ReconciliationRun,
    ReconciliationStore,
    RemoteInvoice,
    SignatureInvalid,
    SyncRow,
    SyncStore,
)
from tallybook.services.ports.tenants import (
    ActiveKey,
    ApiKeyRow,
    CustomerPortalStore,
    KeyIdentity,
    LastAdminKey,
    PortalLink,
    PortalSessionStore,
    TenantRow,
    TenantStore,
)
from tallybook.services.ports.webhooks import (
    WebhookStore,
)

__all__ = [
    "AccountState",
    "ActiveKey",
    "AlertQueue",
    "AlertStore",
    "AnalyticsStore",
    "ApiKeyRow",
    "AuditStore",
    "BacktestRow",
    "BillingStore",
    "BillingUnitOfWork",
    "CatalogReads",
    "CatalogStore",
    "CatalogUnitOfWork",
    "ChangeRow",
    "Claim",
    "Clock",
    "CreditNoteStore",
    "CreditNoteUnitOfWork",
    "CreditStore",
    "CreditUnitOfWork",
    "CustomerPortalStore",
    "CustomerStore",
    "DraftTaxes",
    "EmailQueue",
    "EntitlementStore",
    "EventStore",
    "EventUnitOfWork",
    "ExperimentRow",
    "ExportColumn",
    "ExportKind",
    "ExportStore",
    "FeatureOverrideRow",
    "GovernanceStore",
    "InvoiceStore",
    "JsonDict",
    "KeyIdentity",
    "LastAdminKey",
    "LocalInvoice",
    "LogoStore",
    "MailComposer",
    "MailTransport",
    "MrrSnapshotStore",
    "OverMark",
    "OverageMarks",
    "PaymentProvider",
    "PendingAlerts",
    "PeriodUsageReader",
    "PlanArchiveStore",
    "PlanReader",
    "PlanVersionRow",
    "PortalLink",
    "PortalSessionStore",
    "PriceOverrideRow",
    "ProviderError",
    "ProviderEvent",
    "PushLine",
    "ReconciliationRow",
    "ReconciliationRun",
    "ReconciliationStore",
    "RemoteInvoice",
    "RevenueMonth",
    "RevenueSource",
    "RollupStore",
    "SignatureInvalid",
    "SpendLimitStore",
    "Statistics",
    "StoredSnapshot",
    "SubscriptionStore",
    "SubscriptionUnitOfWork",
    "SyncRow",
    "SyncStore",
    "T",
    "TaxCalculator",
    "TaxRateStore",
    "TenantRow",
    "TenantStore",
    "TopUpStore",
    "UnitOfWork",
    "UsageKey",
    "UsageReader",
    "UsageSource",
    "WebhookStore",
]
