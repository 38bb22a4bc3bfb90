"""Ports and records of payment-provider sync (issue 11); re-exported by ``services.ports``.

``PaymentProvider`` is one provider account (``adapters/stripe``): every call is one
request, amounts cross this boundary as Decimals in major units (the adapter converts to
and from the provider's minor units, and refuses an amount the provider cannot take),
and every failure is a ``ProviderError`` saying whether a retry (same idempotency key)
may help and after how many seconds.

``SyncStore`` keeps, per tenant and provider, the remote customer ids, each invoice's sync
state (claimed with a lease so two workers never push one invoice at once) and the ids of
provider events already handled. ``ReconciliationStore`` keeps runs and their rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.payments import SyncStatus
from tallybook.domain.subscriptions.model import Customer
from tallybook.domain.webhooks import OutboxMessage


class ProviderError(Exception):
    """A provider call failed. ``retryable``: the same request (same idempotency key) may
    succeed later (timeouts, connection errors, 5xx, 429); ``retry_after``: seconds the
    provider asked us to wait (429 ``Retry-After``), else None. ``code`` is a snake_case
    reason (``rate_limited``, ``timeout``, ``server_error``, ``invalid_request``,
    ``amount_not_representable``, ``idempotency_error``, ...)."""

    def __init__(self, message: str, *, code: str, retryable: bool, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class SignatureInvalid(Exception):
    """A provider webhook whose signature (or timestamp) does not verify."""


@dataclass(frozen=True, slots=True)
class RemoteInvoice:
    """A provider invoice. ``status``: draft | open | paid | void | uncollectible;
    ``total`` in major units of ``currency`` (upper-case ISO 4217); ``tenant`` and
    ``invoice`` from its ``tallybook_tenant`` / ``tallybook_invoice`` metadata (None when
    absent); ``line_keys``: the ``tallybook_line`` metadata of its lines."""

    id: str
    status: str
    currency: str
    total: Decimal
    customer: str | None
    tenant: str | None
    invoice: str | None
    created: datetime
    line_keys: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class PushLine:
    """One invoice line as pushed: ``key`` is its ``tallybook_line`` metadata, ``amount``
    the line's rounded amount (negative for credits and discounts)."""

    key: str
    description: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider webhook event: its id (dedupe key), type and the id of the
    object it is about (re-fetched before acting: providers do not order events)."""

    id: str
    type: str
    object_id: str | None
    tenant: str | None
    invoice: str | None


class PaymentProvider(Protocol):
    """One payment-provider account. Every method is one request and raises
    ``ProviderError``; ``key`` is the idempotency key of a create."""

    name: str

    def check_amounts(self, currency: str, amounts: Sequence[Decimal]) -> None:
        """Raise ``ProviderError(code="amount_not_representable")`` unless every amount is
        exactly a whole number of the provider's minor units of ``currency``."""
        ...

    def find_customer(self, tenant_id: str, customer_id: str) -> str | None:
        """The remote id of the customer whose metadata names it, else None."""
        ...

    def create_customer(self, tenant_id: str, customer: Customer, key: str) -> str: ...

    def find_invoice(self, tenant_id: str, invoice_id: str) -> RemoteInvoice | None:
        """The remote invoice whose metadata names ``invoice_id`` (a search), else None."""
        ...

    def get_invoice(self, remote_id: str) -> RemoteInvoice:
        """Re-fetch one invoice; ``ProviderError(code="not_found")`` when it is gone."""
        ...

    def create_invoice(
        self, tenant_id: str, invoice: Invoice, remote_customer: str, key: str
    ) -> RemoteInvoice:
        """A draft that takes no pending items, with ``tallybook_*`` metadata."""
        ...

    def add_line(
        self, remote: RemoteInvoice, tenant_id: str, invoice: Invoice, line: PushLine, key: str
    ) -> None:
        """One invoice item of ``line.amount`` on the draft ``remote``."""
        ...

    def finalize(self, remote_id: str, key: str) -> RemoteInvoice: ...

    def void(self, remote_id: str, key: str) -> RemoteInvoice: ...

    def invoices_since(self, tenant_id: str, since: datetime) -> Iterator[RemoteInvoice]:
        """Every remote invoice created at or after ``since`` carrying this tenant's
        metadata (the provider's list, paged)."""
        ...

    def parse_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        """Verify a webhook's signature and parse it; ``SignatureInvalid`` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class SyncRow:
    """One invoice's sync state with one provider. ``local_status`` is the local status
    the remote side was last brought to; ``remote_status`` what the provider said then;
    ``attempts`` counts claims (1: the first, nothing can exist remotely yet)."""

    invoice_id: str
    status: SyncStatus
    remote_id: str | None
    remote_status: str | None
    local_status: str | None
    error: str | None
    attempts: int
    updated_at: datetime
    generation: int = 1


@dataclass(frozen=True, slots=True)
class Claim:
    """An invoice claimed for sync: ``token`` proves the lease when the outcome is
    written (a worker whose lease ended writes nothing)."""

    tenant_id: str
    invoice_id: str
    token: str
    row: SyncRow


class SyncStore(Protocol):
    """Sync state of invoices, customer ids and handled events, per provider."""

    def due(
        self,
        provider: str,
        tenant_id: str,
        now: datetime,
        *,
        limit: int,
        include_failed: bool = False,
        after: int | None = None,
    ) -> list[tuple[str, int]]:
        """Invoices that need work now, as (invoice id, number) in number order after
        ``after``: finalized ones never pushed, pending ones due, synced ones voided since, and
        (``include_failed``) failed ones."""
        ...

    def count_due(
        self, provider: str, tenant_id: str, now: datetime, *, include_failed: bool = False
    ) -> int: ...

    def tenants_with_work(self, provider: str, now: datetime) -> list[str]:
        """Tenants with an invoice ``due`` would return (failed ones aside)."""
        ...

    def marked_due(self, provider: str, now: datetime, *, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``pending`` rows due now and not leased, of every tenant, as
        (tenant id, invoice id), oldest due first: the sync worker's queue (rows written
        with the ``invoice.finalized`` / ``invoice.voided`` fact, and retries)."""
        ...

    def tenants(self, provider: str) -> list[str]:
        """Tenants that have pushed at least one invoice to ``provider``."""
        ...

    def claim(
        self,
        provider: str,
        tenant_id: str,
        invoice_ids: Sequence[str],
        now: datetime,
        lease_until: datetime,
    ) -> list[Claim]:
        """Lease the given invoices (creating their rows as ``pending``); those another
        worker holds are left out."""
        ...

    def restart(self, provider: str, claim: Claim, now: datetime) -> int:
        """The stored remote invoice vanished: forget its id and start the next
        generation (fresh idempotency keys); returns the new generation."""
        ...

    def finish(
        self,
        provider: str,
        claim: Claim,
        *,
        status: SyncStatus,
        now: datetime,
        remote_id: str | None = None,
        remote_status: str | None = None,
        local_status: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Write the outcome and release the lease; False when the lease was lost."""
        ...

    def get(self, provider: str, tenant_id: str, invoice_id: str) -> SyncRow | None: ...

    def rows(
        self, provider: str, tenant_id: str, invoice_ids: Sequence[str]
    ) -> dict[str, SyncRow]: ...

    def remote_ids(self, provider: str, tenant_id: str) -> dict[str, str]:
        """Local invoice id -> remote id of every invoice pushed for the tenant."""
        ...

    def customer_remote(self, provider: str, tenant_id: str, customer_id: str) -> str | None: ...

    def claim_customer(
        self, provider: str, tenant_id: str, customer_id: str, now: datetime, until: datetime
    ) -> str | None:
        """Lease the creation of one customer's remote customer until ``until`` (every
        process sharing the database); returns the claim token, or None while another
        worker holds a live lease."""
        ...

    def release_customer(self, provider: str, tenant_id: str, customer_id: str, token: str) -> None:
        """End a lease ``claim_customer`` gave (no-op when it was taken over since)."""
        ...

    def save_customer(
        self,
        provider: str,
        tenant_id: str,
        customer_id: str,
        remote_id: str,
        now: datetime,
        claim_token: str | None = None,
    ) -> str:
        """Store the mapping unless one exists; returns the stored remote id. With
        ``claim_token``, the ``claim_customer`` lease ends in the same transaction."""
        ...

    def seen_event(self, provider: str, event_id: str) -> bool: ...

    def record_event(
        self, provider: str, event: ProviderEvent, now: datetime, outcome: str
    ) -> bool:
        """Record a handled event; False when it was already recorded (a duplicate)."""
        ...


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    """One compared invoice (``category``, ``drift`` and ``action`` from
    ``domain.payments.classify``); amounts in major units; ``applied`` when ``--fix``
    carried the action out."""

    invoice: str | None
    number: str | None
    currency: str
    local_total: Decimal | None
    local_status: str | None
    remote_id: str | None
    remote_total: Decimal | None
    remote_status: str | None
    category: str
    drift: Decimal
    action: str
    applied: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    """A run: its window ``[start, end)``, counts and drift per currency."""

    id: str
    provider: str
    start: datetime
    end: datetime
    fix: bool
    status: str
    checked: int
    ok: int
    counts: dict[str, int]
    drift: dict[str, Decimal]
    trigger: str
    created_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LocalInvoice:
    """A final local invoice in a reconciliation window."""

    id: str
    number: int | None
    customer: str
    currency: str
    total: Decimal
    status: str
    finalized_at: datetime | None
    prefix: str | None = None  # the invoice's number prefix (its parties snapshot)


class ReconciliationStore(Protocol):
    def final_invoices(
        self, tenant_id: str, start: datetime, end: datetime, *, after: int | None, limit: int
    ) -> list[LocalInvoice]:
        """Finalized, paid and void invoices finalized in ``[start, end)``, number order."""
        ...

    def invoice_statuses(self, tenant_id: str, ids: Sequence[str]) -> dict[str, str]:
        """Status of each given invoice that exists (any window)."""
        ...

    def save(
        self,
        tenant_id: str,
        run: ReconciliationRun,
        rows: Sequence[ReconciliationRow],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Store the run, its rows and its outbox messages in one transaction."""
        ...

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun | None: ...

    def rows(
        self, tenant_id: str, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[tuple[int, ReconciliationRow]]: ...

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[ReconciliationRun]: ...

    def latest(
        self, provider: str, trigger: str | None = None
    ) -> list[tuple[str, ReconciliationRun]]:
        """The newest run of each tenant (optionally of one trigger), as (tenant, run)."""
        ...
