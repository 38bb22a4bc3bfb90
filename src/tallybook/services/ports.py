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
    PlanReader             the catalog as domain values
    CatalogStore           catalog documents; CatalogUnitOfWork for serialised publishes
    CustomerStore, SubscriptionStore, TenantStore, InvoiceStore   repositories
    BillingStore           what is due; BillingUnitOfWork: one chunk's transaction
    AnalyticsStore         analytics reads; backtest, experiment and spend rows (issue 13)
    ExportStore            warehouse export reads; Statistics: experiment p-values
    CreditStore            the credits ledger; CreditUnitOfWork: one customer's locked ledger (issue 9)
    PaymentProvider        a payment provider (Stripe): customers, invoices, events
    SyncStore              per-invoice sync state, customer ids, seen provider events
    ReconciliationStore    reconciliation runs and their rows (with the ``reconciliation.drift``
                           outbox message in the run's transaction)

The records that cross the boundary live here, or in ``domain/`` when the domain
computes with them (``domain.metering.usage``, ``domain.subscriptions.stored``,
``domain.metering.events``, ``domain.billing.drafts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

from tallybook.domain.billing.drafts import ChunkPlan, DraftKey, OpenDraft
from tallybook.domain.billing.invoice import Invoice, InvoiceDraft, InvoiceStatus
from tallybook.domain.billing.lines import Line
from tallybook.domain.catalog.model import Aggregation, Meter, Plan
from tallybook.domain.credits.commitments import Commitment
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.credits.top_up import TopUpRule
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import DeadLetter, Key, NewEvent, RejectedEvent, StoredEvent
from tallybook.domain.metering.usage import Partial, Selection
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
    """Who a bearer key is: its tenant, its id and its roles."""

    tenant_id: str
    key_id: str
    roles: tuple[str, ...]


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
