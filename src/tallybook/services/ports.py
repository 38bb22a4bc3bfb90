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

The records that cross the boundary live here, or in ``domain/`` when the domain
computes with them (``domain.metering.usage``, ``domain.subscriptions.stored``,
``domain.metering.events``, ``domain.billing.drafts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

from tallybook.domain.alerts import Alert, Fired
from tallybook.domain.analytics.period_usage import PeriodUsage
from tallybook.domain.billing.drafts import ChunkPlan, DraftKey, OpenDraft
from tallybook.domain.billing.invoice import Invoice, InvoiceDraft, InvoiceStatus
from tallybook.domain.billing.lines import Line
from tallybook.domain.catalog.model import Aggregation, Meter, Plan
from tallybook.domain.credits.commitments import Commitment
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.credits.top_up import TopUpRule
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.finance.delivery import Delivery, DeliveryStatus, Mail
from tallybook.domain.finance.logos import Logo
from tallybook.domain.finance.taxes import TaxRate
from tallybook.domain.governance.audit import AuditEntry, AuditRecord, StoredLink
from tallybook.domain.governance.changes import GuardRails
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import DeadLetter, Key, NewEvent, RejectedEvent, StoredEvent
from tallybook.domain.metering.rollups import Cell, RollupDef
from tallybook.domain.metering.usage import Partial, Selection
from tallybook.domain.spend_limits import SpendHit, SpendLimit
from tallybook.domain.subscriptions.model import Customer, Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.domain.webhooks import Endpoint, Message, MessageStatus, OutboxMessage
from tallybook.services.ports_payments import *  # noqa: F403  (payment ports, re-exported)

T = TypeVar("T")

JsonDict = dict[str, Any]


class Clock(Protocol):
    """Services take a clock so tests and billing runs can set "now"."""

    def now(self) -> datetime: ...


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageKey:
    """One aggregate: a customer, and a dimension value when grouped (None otherwise)."""

    customer: str
    dimension: str | None = None


@dataclass
class AccountState:
    """What a billing run reads for one claimed account, in the chunk's transaction."""

    customer: Customer
    subscriptions: list[StoredSubscription]
    drafts: dict[DraftKey, OpenDraft]
    final_lines: list[Line]
    credits: list[tuple[Grant, Decimal]] = field(default_factory=list)  # grant, remaining
    commitments: list[Commitment] = field(default_factory=list)
    term_lines: list[Line] = field(default_factory=list)  # final lines since the first term


@dataclass(frozen=True, slots=True)
class PlanVersionRow:
    """One published plan version as its stored document."""

    key: str
    version: int
    definition: JsonDict
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    grace_seconds: int
    seller: Mapping[str, Any] | None = None  # the seller profile (domain.finance.parties)
    email_invoices: bool = False  # e-mail invoices and credit notes when final


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: str
    tenant_id: str
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    roles: tuple[str, ...] = ("admin",)


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a bearer key is: its tenant, its id, its roles and its name (the audit actor)."""

    tenant_id: str
    key_id: str
    roles: tuple[str, ...]
    name: str = ""


# -- usage and catalog ------------------------------------------------------------------------


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


# -- events -----------------------------------------------------------------------------------


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


# -- repositories -----------------------------------------------------------------------------


class CustomerStore(Protocol):
    def insert(self, tenant_id: str, customer: Customer) -> None:
        """Conflict when the id is taken."""
        ...

    def get(self, tenant_id: str, customer_id: str) -> Customer | None: ...

    def get_many(self, tenant_id: str, ids: Iterable[str]) -> dict[str, Customer]: ...

    def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        parent: str | None = None,
        email: str | None = None,
        query: str | None = None,
        include_archived: bool = True,
    ) -> Sequence[Customer]: ...

    def update(self, tenant_id: str, customer_id: str, values: dict[str, Any]) -> Customer | None:
        """Set ``values`` (column: value); the customer after, None when absent."""
        ...


class SubscriptionUnitOfWork(Protocol):
    """A subscription read under its row lock, and its rewrite, in one transaction."""

    @property
    def current(self) -> StoredSubscription: ...

    def save(
        self,
        subscription: Subscription,
        next_issue_at: datetime | None,
        event_type: str = "subscription.changed",
    ) -> None:
        """Rewrite the row; the ``subscription.*`` outbox message goes in the same
        transaction."""
        ...


class SubscriptionStore(Protocol):
    def for_customer(self, tenant_id: str, customer: str) -> list[StoredSubscription]: ...

    def insert_exclusive(
        self,
        tenant_id: str,
        subscription: Subscription,
        account: str,
        next_issue_at: datetime | None,
        now: datetime,
    ) -> None:
        """Insert unless the customer has an overlapping subscription (Conflict)."""
        ...

    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]: ...

    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription | None: ...

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        limit: int = 100,
        starting_after: str | None = None,
    ) -> list[StoredSubscription]: ...

    def locked(
        self, tenant_id: str, subscription_id: str, now: datetime
    ) -> AbstractContextManager[SubscriptionUnitOfWork]:
        """Lock one subscription's row for a read-modify-write; NotFound when absent."""
        ...


class TenantStore(Protocol):
    def get(self, tenant_id: str) -> TenantRow | None: ...

    def create(self, tenant_id: str, name: str, now: datetime, grace_seconds: int) -> TenantRow: ...

    def set_grace(self, tenant_id: str, grace_seconds: int) -> None: ...

    def set_finance(self, tenant_id: str, values: Mapping[str, Any]) -> None:
        """Set ``seller`` (a JSON document or None) and/or ``email_invoices``."""
        ...

    def count_keys(self, tenant_id: str) -> int: ...

    def add_key(
        self,
        key_id: str,
        tenant_id: str,
        key_hash: str,
        prefix: str,
        name: str,
        now: datetime,
        roles: Sequence[str] = ("admin",),
    ) -> None: ...

    def tenant_for_hash(self, key_hash: str) -> str | None: ...

    def identity_for_hash(self, key_hash: str) -> KeyIdentity | None: ...

    def hash_known(self, key_hash: str) -> bool: ...

    def get_key(self, tenant_id: str, key_id: str) -> ApiKeyRow | None: ...

    def page_keys(self, tenant_id: str, *, limit: int, after: str | None) -> list[ApiKeyRow]: ...

    def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKeyRow | None:
        """None when there is no such key; LastAdminKey when it is the last active admin."""
        ...


class LastAdminKey(Exception):
    """Revoking this key would leave the tenant without an active admin key."""


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A not-revoked API key a portal session is opened with."""

    id: str
    tenant_id: str


class PortalSessionStore(Protocol):
    """Portal sessions; tokens arrive already hashed (SHA-256 hex)."""

    def active_key(self, key_hash: str) -> ActiveKey | None: ...

    def create(
        self, token_hash: str, key: ActiveKey, now: datetime, expires_at: datetime
    ) -> None: ...

    def tenant(self, token_hash: str, now: datetime) -> str | None: ...

    def identity(self, token_hash: str, now: datetime) -> KeyIdentity | None: ...

    def revoke(self, token_hash: str, now: datetime) -> bool: ...


class PlanArchiveStore(Protocol):
    """Archived plans (by key) of a tenant."""

    def archive(self, tenant_id: str, key: str, now: datetime) -> datetime | None: ...

    def archived(self, tenant_id: str) -> dict[str, datetime]: ...

    def archived_at(self, tenant_id: str, key: str) -> datetime | None: ...


class InvoiceStore(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None: ...

    def get_by_number(self, tenant_id: str, number: int) -> Invoice | None: ...

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        status: InvoiceStatus | None = None,
        limit: int = 50,
        after: tuple[int | None, str] | None = None,
        number: int | None = None,
        period_start_from: datetime | None = None,
        period_start_to: datetime | None = None,
    ) -> Sequence[Invoice]: ...

    def save_status(
        self,
        tenant_id: str,
        invoice: Invoice,
        expected: InvoiceStatus,
        messages: Sequence[OutboxMessage] = (),
    ) -> None:
        """Store a status change and its outbox ``messages`` in one transaction; Conflict
        when the stored status is not ``expected``."""
        ...


# -- billing runs -----------------------------------------------------------------------------


class BillingUnitOfWork(Protocol):
    """One chunk of a billing run: a transaction (``with``), rolled back unless committed;
    a unique-key race lost to a concurrent run raises ``WriteConflict``."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def claim(
        self, tenant_id: str, accounts: Sequence[str], *, skip_locked: bool
    ) -> dict[str, Customer]:
        """Lock the accounts (skipping those another run holds when ``skip_locked``)."""
        ...

    def account_states(
        self, tenant_id: str, claimed: dict[str, Customer], ledger_since: datetime | None
    ) -> dict[str, AccountState]: ...

    def take_numbers(self, tenant_id: str, count: int) -> int:
        """Reserve ``count`` consecutive invoice numbers (gapless); returns the last."""
        ...

    def write(self, tenant_id: str, plan: ChunkPlan) -> None:
        """Execute the writes ``domain.billing.drafts`` decided."""
        ...

    def insert_grants(self, tenant_id: str, grants: Sequence[Grant]) -> None:
        """Store grants bought on an invoice finalized in this transaction."""
        ...

    def insert_commitments(self, tenant_id: str, terms: Sequence[Commitment]) -> None:
        """Store commitment terms renewed by this run."""
        ...

    def write_credits(
        self,
        tenant_id: str,
        writes: Sequence[tuple[str, str, Sequence[Entry]]],
        now: datetime,
    ) -> None:
        """Append ledger entries ((customer, currency, entries): grants bought now,
        debits of the finalized invoices, expiries), numbered after each ledger's last."""
        ...

    def commit(self) -> None: ...


class BillingStore(Protocol):
    def due_accounts(
        self, tenant_id: str, as_of: datetime, *, after: str | None, limit: int
    ) -> list[str]: ...

    def count_due_subscriptions(self, tenant_id: str, as_of: datetime) -> int: ...

    def due_tenants(self, as_of: datetime) -> list[str]: ...

    def subscriptions_of(
        self, tenant_id: str, accounts: Sequence[str]
    ) -> list[StoredSubscription]: ...

    def unit_of_work(self) -> BillingUnitOfWork: ...


# -- credits ----------------------------------------------------------------------------------


class CreditUnitOfWork(Protocol):
    """One customer's ledger transaction (``with``), rolled back unless committed."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def lock(self) -> bool:
        """Lock the customer (serialises its ledger); False if it does not exist."""
        ...

    def grant(self, grant_id: str) -> Grant | None: ...

    def balances(self) -> list[tuple[Grant, Decimal]]: ...

    def insert_grant(self, grant: Grant) -> None: ...

    def unpaid_purchases(self, source: str) -> list[str]:
        """Ids of the customer's grants from ``source`` whose purchase invoice is unpaid."""
        ...

    def append(self, currency: str, entries: Sequence[Entry], now: datetime) -> list[Entry]:
        """Append entries (numbered, with ``balance_after``); returns them as written."""
        ...

    def insert_final_invoice(self, invoice_id: str, draft: InvoiceDraft, now: datetime) -> int:
        """Store ``draft`` finalized and numbered in this transaction; returns the number."""
        ...

    def commit(self) -> None: ...


class CreditStore(Protocol):
    def ledger(self, tenant_id: str, customer: str) -> CreditUnitOfWork: ...

    def get_grant(self, tenant_id: str, grant_id: str) -> Grant | None: ...

    def balances(self, tenant_id: str, customer: str) -> list[tuple[Grant, Decimal]]:
        """The customer's grants with their remaining amounts, oldest first."""
        ...

    def entries(
        self, tenant_id: str, customer: str, currency: str, *, after: int, limit: int
    ) -> list[tuple[int, Entry]]:
        """Ledger entries (seq, entry) after ``after``, oldest first."""
        ...


class TopUpStore(Protocol):
    """Automatic top-up rules, one per customer (``adapters.store.top_ups``)."""

    def get(self, tenant_id: str, customer: str) -> TopUpRule | None: ...

    def of_customers(self, tenant_id: str, customers: Sequence[str]) -> list[TopUpRule]:
        """The rules of those of ``customers`` that have one."""
        ...

    def holders(self) -> list[tuple[str, str]]:
        """(tenant, customer) of every rule."""
        ...

    def put(self, tenant_id: str, rule: TopUpRule) -> TopUpRule:
        """Create or replace; returns the rule as stored (the first ``created_at`` kept)."""
        ...

    def delete(self, tenant_id: str, customer: str) -> bool: ...


# -- coming capabilities (declared so their services have a port to code against) -----------


# Payment providers (issue 11): ``PaymentProvider``, ``SyncStore``, ``ReconciliationStore``
# and their records live in ``services/ports_payments.py`` (re-exported here).


class WebhookStore(Protocol):
    """Webhook endpoints and their messages (``adapters.store.webhooks``)."""

    def insert_endpoint(
        self, tenant_id: str, endpoint: Endpoint, secret: str, request_hash: str
    ) -> None: ...

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> tuple[Endpoint, str] | None: ...

    def page_endpoints(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[Endpoint]: ...

    def update_endpoint(self, tenant_id: str, endpoint_id: str, **values: Any) -> bool: ...

    def rotate_secret(
        self, tenant_id: str, endpoint_id: str, new_secret: str, now: datetime, until: datetime
    ) -> bool: ...

    def delete_endpoint(self, tenant_id: str, endpoint_id: str, now: datetime) -> bool: ...

    def page_messages(
        self,
        tenant_id: str,
        *,
        limit: int,
        before: str | None,
        type: str | None,
        status: MessageStatus | None,
        endpoint: str | None,
    ) -> list[Message]: ...

    def get_message(self, tenant_id: str, message_id: str) -> Message | None: ...

    def retry_message(self, tenant_id: str, message_id: str, now: datetime) -> bool: ...

    def count_messages(self, tenant_id: str, endpoint_id: str) -> dict[str, int]: ...


# -- alerts (issue 10) -----------------------------------------------------------------------


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


# -- analytics (issue 13) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevenueMonth:
    """Usage and adjustment revenue of one customer, currency and month (``YYYY-MM``,
    the UTC month the lines' service periods start in)."""

    customer: str
    currency: str
    month: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """One stored backtest: its request document, progress and result (or error)."""

    id: str
    status: str
    done: int
    total: int
    request: dict[str, Any]
    request_hash: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExperimentRow:
    """One stored price experiment: its arms' plans, treatment share and life span."""

    key: str
    control_plan: str
    treatment_plan: str
    share: Decimal
    start: datetime
    end: datetime | None
    stopped_at: datetime | None
    request_hash: str
    created_at: datetime
    updated_at: datetime


class AnalyticsStore(Protocol):
    """Reads for analytics; rows for backtests, experiments and acquisition spend
    (``adapters/store/analytics_sql.py``)."""

    def subscription_chunks(
        self, tenant_id: str, *, size: int = 500, customers: Sequence[str] | None = None
    ) -> Iterator[list[StoredSubscription]]: ...
    def count_subscriptions(
        self, tenant_id: str, customers: Sequence[str] | None = None
    ) -> int: ...
    def revenue_by_month(self, tenant_id: str, issued_from: datetime) -> Iterator[RevenueMonth]: ...
    def currencies(self, tenant_id: str) -> set[str]: ...
    def existing_customers(self, tenant_id: str, ids: Sequence[str]) -> set[str]: ...
    def insert_backtest(self, tenant_id: str, row: BacktestRow) -> bool: ...
    def get_backtest(self, tenant_id: str, backtest_id: str) -> BacktestRow | None: ...
    def page_backtests(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[BacktestRow]: ...
    def update_backtest(self, tenant_id: str, backtest_id: str, **values: Any) -> None: ...
    def insert_experiment(self, tenant_id: str, row: ExperimentRow) -> bool: ...
    def get_experiment(self, tenant_id: str, key: str) -> ExperimentRow | None: ...
    def page_experiments(
        self, tenant_id: str, *, limit: int, after: str | None
    ) -> list[ExperimentRow]: ...
    def raise_share(self, tenant_id: str, key: str, share: Decimal, now: datetime) -> bool: ...
    def stop_experiment(self, tenant_id: str, key: str, now: datetime) -> None: ...
    def assignment(self, tenant_id: str, key: str, customer: str) -> str | None: ...
    def assign(self, tenant_id: str, key: str, customer: str, arm: str, now: datetime) -> str: ...
    def assignments(self, tenant_id: str, key: str) -> list[tuple[str, str, datetime]]: ...
    def set_spend(
        self, tenant_id: str, month: str, currency: str, amount: Decimal, now: datetime
    ) -> None: ...
    def spend(self, tenant_id: str, month: str, currency: str) -> Decimal | None: ...


class Statistics(Protocol):
    """Significance tests for experiments (``adapters/statistics.py``, scipy): two-sided
    p-values as Decimals rounded to 4 places, None when the statistic is undefined."""

    def two_proportion_p(
        self, successes_a: int, total_a: int, successes_b: int, total_b: int
    ) -> Decimal | None: ...
    def welch_p(
        self, values_a: Sequence[Decimal], values_b: Sequence[Decimal]
    ) -> Decimal | None: ...


ExportKind = Literal["instant", "integer", "text"]


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One exported column: its name and kind (instants are UTC microseconds; integers;
    everything else, decimals and JSON included, is exported as text)."""

    name: str
    kind: ExportKind


class ExportStore(Protocol):
    """Reads for warehouse exports (``adapters/store/export_sql.py``)."""

    def tables(self) -> tuple[str, ...]:
        """The exported table names, in export order."""
        ...

    def columns(self, name: str) -> list[ExportColumn]:
        """The exported columns of table ``name``."""
        ...

    def batches(
        self, tenant_id: str, name: str, since: datetime | None, until: datetime
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows of ``name`` whose change column is in ``[since, until)``, in batches."""
        ...


# -- governance (issue 12) --------------------------------------------------------------------


class AuditStore(Protocol):
    """The per-tenant hash-chained audit log (``adapters/store/audit.py``). Appends lock
    the tenant's chain head (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
    so concurrent appends never fork the chain."""

    def append(
        self, tenant_id: str, records: Sequence[AuditRecord], now: datetime
    ) -> list[AuditEntry]:
        """Seal and store ``records`` in order at the head of the chain, in one transaction."""
        ...

    def page(
        self,
        tenant_id: str,
        *,
        object: str | None,
        actor: str | None,
        start: datetime | None,
        end: datetime | None,
        after_seq: int | None,
        limit: int,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Entries by ``seq`` matching the filters (``at`` in ``[start, end)``; ``action``
        a case-insensitive substring of the entry's action)."""
        ...

    def links(self, tenant_id: str) -> Iterator[StoredLink]:
        """Every entry of the tenant as stored, in ``seq`` order (streamed in batches)."""
        ...

    def head_seq(self, tenant_id: str) -> int:
        """The ``seq`` the chain head names (0 before the first entry)."""
        ...


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """A stored catalog change (``services/governance.py`` reads and writes it)."""

    id: str
    kind: str  # change | rollback
    status: str  # pending_approval | approved | rejected (stored statuses)
    author_key: str
    author: str
    document: JsonDict
    effective_at: datetime
    timing: str
    existing: str
    reason: str | None
    diff: JsonDict
    checks: list[JsonDict]
    impact: JsonDict
    created_at: datetime
    versions: JsonDict | None = None  # plan key -> {"from", "to", "migrated", "skipped"}
    decided_key: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


# -- entitlements, spend limits, customer portal links (issue 10) ---------------------------


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


@dataclass(frozen=True, slots=True)
class PortalLink:
    """A consumed customer portal link: whose session it opens, and with which key."""

    tenant_id: str
    customer: str
    key_id: str


class CustomerPortalStore(Protocol):
    """Customer portal links (single use) and the customer sessions they open; tokens
    arrive hashed (SHA-256 hex)."""

    def create_link(
        self,
        token_hash: str,
        tenant_id: str,
        customer: str,
        key_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    def consume_link(self, token_hash: str, now: datetime) -> PortalLink | None:
        """Mark an unused, unexpired link used (atomically) and return it; None otherwise
        (unknown, used, expired, or its key revoked)."""
        ...

    def create_session(
        self, token_hash: str, link: PortalLink, now: datetime, expires_at: datetime
    ) -> None: ...

    def customer_session(self, token_hash: str, now: datetime) -> tuple[str, str] | None:
        """(tenant, customer) of a live customer session, or None."""


@dataclass(frozen=True, slots=True)
class PriceOverrideRow:
    """A stored price override of one charge for a customer or a subscription."""

    id: str
    level: str  # subscription | customer
    target: str
    charge: str
    kind: str  # multiplier | overwrite
    multiplier: Decimal | None
    price: JsonDict | None
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime


class GovernanceStore(Protocol):
    """Governance settings, catalog changes and price overrides
    (``adapters/store/governance.py``)."""

    def guard_rails(self, tenant_id: str) -> GuardRails: ...

    def put_guard_rails(self, tenant_id: str, rails: GuardRails, now: datetime) -> None: ...

    def insert_change(self, tenant_id: str, row: ChangeRow) -> None: ...

    def get_change(self, tenant_id: str, change_id: str) -> ChangeRow | None: ...

    def page_changes(
        self, tenant_id: str, *, status: str | None, after: str | None, limit: int
    ) -> list[ChangeRow]: ...

    def approved_changes(self, tenant_id: str) -> list[ChangeRow]: ...

    def decide(
        self,
        tenant_id: str,
        change_id: str,
        status: str,
        *,
        key: str,
        by: str,
        at: datetime,
        reason: str | None,
    ) -> bool:
        """Move a ``pending_approval`` change to ``status`` (a conditional update: of two
        racing deciders exactly one gets True)."""
        ...

    def reopen(self, tenant_id: str, change_id: str) -> None:
        """Back to ``pending_approval`` (an approval whose publication failed)."""
        ...

    def set_versions(
        self,
        tenant_id: str,
        change_id: str,
        versions: JsonDict,
        now: datetime,
        messages: Sequence[OutboxMessage] = (),
    ) -> None:
        """Record what an approval published (and migrated); ``messages`` go to the
        outbox in the same transaction (``catalog.change_approved``)."""
        ...

    def insert_override(self, tenant_id: str, row: PriceOverrideRow) -> PriceOverrideRow | None:
        """Insert unless an override of the same level, target and charge overlaps it in
        time (checked under a lock); returns the overlapping row, or None when inserted."""
        ...

    def overrides(
        self, tenant_id: str, level: str, targets: Sequence[str]
    ) -> list[PriceOverrideRow]: ...

    def delete_override(
        self, tenant_id: str, level: str, target: str, override_id: str
    ) -> bool: ...


# -- invoices for finance (issue 16) ---------------------------------------------------------


class TaxRateStore(Protocol):
    """The tenant's tax rates (``adapters/store/finance.py``); rates never change once stored."""

    def get(self, tenant_id: str, rate_id: str) -> TaxRate | None: ...

    def insert(self, tenant_id: str, rate: TaxRate) -> TaxRate | None:
        """Store ``rate``; None when its id exists (the caller compares bodies)."""
        ...

    def all(self, tenant_id: str) -> dict[str, TaxRate]: ...

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[TaxRate]: ...


class TaxCalculator(Protocol):
    """Puts taxes on an account's invoice drafts, after credits (``services/billing/runs.py``).

    The built-in one (``services.finance.taxes.RateTaxes``) applies the tenant's tax rates
    (``domain.finance.taxes``); a tax engine (a lookup by address and product code) would
    implement this port and be injected in ``bootstrap.py`` instead. ``for_run`` is called
    once per billing run, outside any transaction: what it needs to read (rates, a remote
    engine's session) is read there, never while the run's transaction holds its locks.
    """

    def for_run(self, tenant_id: str) -> DraftTaxes: ...


class DraftTaxes(Protocol):
    """One run's tax calculator (``TaxCalculator.for_run``)."""

    def tax(
        self,
        customer: Customer,
        draft: InvoiceDraft,
        charge_rates: Mapping[tuple[str | None, str], Sequence[str]],
    ) -> InvoiceDraft:
        """``draft`` with ``Line.taxes`` and its ``tax_note``; ``charge_rates`` maps
        (subscription, charge) to the rate ids its plan charge names."""
        ...


class CreditNoteUnitOfWork(Protocol):
    """One customer's transaction for a credit note (``adapters/store/credit_notes.py``)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def lock(self) -> bool: ...

    def invoice(self, invoice_id: str) -> Invoice | None: ...

    def notes(self, invoice_id: str) -> list[CreditNote]: ...

    def take_number(self) -> int: ...

    def insert_note(self, note: CreditNote) -> None: ...

    def insert_grant(self, grant: Grant) -> None: ...

    def append(self, currency: str, entries: Sequence[Entry], now: datetime) -> list[Entry]: ...

    def commit(self) -> None: ...


class CreditNoteStore(Protocol):
    def unit_of_work(self, tenant_id: str, customer: str) -> CreditNoteUnitOfWork: ...

    def of_invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> list[CreditNote]: ...

    def get(self, tenant_id: str, note_id: str) -> CreditNote | None: ...


class EmailQueue(Protocol):
    """Invoice e-mail deliveries (``adapters/store/email_deliveries.py``)."""

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[tuple[Delivery, str]]: ...

    def record(
        self,
        delivery: Delivery,
        token: str,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        recipients: Sequence[str],
        message_id: str | None,
        error: str | None,
        now: datetime,
    ) -> bool: ...

    def page(
        self,
        tenant_id: str,
        *,
        status: DeliveryStatus | None,
        invoice: str | None,
        limit: int,
        after: str | None,
    ) -> list[Delivery]: ...


class MailComposer(Protocol):
    """Builds an invoice's e-mail, or a credit note's when ``credit_note`` is given
    (``documents/invoice_email.py``): recipients, subject, text with the portal link, the
    PDF. Raises ``PermanentFailure`` when it cannot be sent (no recipient, no sender)."""

    def compose(self, tenant_id: str, invoice_id: str, credit_note: str | None = None) -> Mail: ...


class MailTransport(Protocol):
    """Sends one e-mail (``adapters/smtp.py``); returns its Message-ID. Any exception is a
    failed attempt (retried)."""

    def send(self, mail: Mail) -> str: ...


class RevenueSource(Protocol):
    """What revenue recognition reads (``adapters/store/finance.py``)."""

    def revenue_data(
        self, tenant_id: str, start: datetime, end: datetime
    ) -> tuple[list[Invoice], list[CreditNote], dict[str, str]]:
        """Final (finalized or paid) invoices whose period overlaps ``[start, end)``, their
        credit notes, and the time zone of each of their customers."""
        ...


# --- seller logos (issue 16; govfin branch: the lead moves this block at merge) ----------


class LogoStore(Protocol):
    """Uploaded seller logos by tenant and SHA-256 (``adapters/store/logos.py``); rows are
    written once and never changed or deleted (final invoices name them by hash)."""

    def put_logo(self, tenant_id: str, logo: Logo, now: datetime) -> None:
        """Store ``logo`` unless the tenant already has one with its hash."""
        ...

    def get_logo(self, tenant_id: str, sha256: str) -> Logo | None: ...


# -- period usage summary (issue 13 speed follow-up; the lead moves this block at merge) ---


class PeriodUsageReader(Protocol):
    """Per-period usage as billed (``adapters/store/period_usage.py``; the rule is
    ``domain.analytics.period_usage``)."""

    def period_usage(
        self, tenant_id: str, start: datetime, until: datetime, charges: Sequence[str] | None
    ) -> list[PeriodUsage]:
        """The rows of billing periods lying inside ``[start, until)`` for ``charges``
        (every charge when None), with every period's marker row (charge ``""``)."""
        ...
