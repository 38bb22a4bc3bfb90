"""Pushing final invoices to a payment provider, idempotently (CONTRACT.md Part 2).

Driven by the outbox: the transaction that finalizes (or voids) an invoice also marks it
``pending`` for the provider (``adapters/store/payments_marks.py``), and the outbox
worker (``tallybook serve`` or ``tallybook worker``; ``services.sync.worker``) claims
marked rows every poll interval (``push_marked``), so a push starts within about a second
of finalization. A worker killed before or during the push leaves the row due (or leased
until ``lease`` ends), so another worker, or the same one restarted, pushes it.

The scheduler's pass stays as the safety net, level-triggered: it asks the store which
invoices need work (finalized ones never pushed, pending ones whose retry is due, synced
ones voided locally since), leases them, and brings each remote invoice to the local
state. ``tallybook sync stripe`` runs one pass by hand (and retries ``failed`` ones).

One invoice, in order, each step safe to repeat after a crash at any point:

1. the remote customer: the stored id, else (holding the customer's lease, shared by all
   processes) a metadata search, else a create (key ``tb:{tenant}:{invoice}:customer``),
   stored;
2. the remote invoice: the stored id, else (from the second attempt on) a metadata
   search, else a create (key ``tb:{tenant}:{invoice}:invoice``; a draft taking no
   pending items); its id is stored with the outcome (a crash before that is covered by
   the key, which replays the create for 24 hours, and by the search, which finds it
   after);
3. while it is a draft: one invoice item per non-zero line that is not on it yet (by the
   ``tallybook_line`` metadata of its lines; key ``...:item:{n}``), then finalize
   (``...:finalize``);
4. the remote total is compared with the local one: a difference is a ``failed`` sync
   (reported, never corrected by hand-waving).

A voided invoice is voided remotely (``...:void``) when it was pushed. Amounts the
provider cannot take exactly fail the invoice before any request. Retryable errors
(timeouts, 5xx, 429) are retried in process (``calls``), then left ``pending`` for the
next pass; other errors make the invoice ``failed`` with the provider's message.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.errors import NotFound
from tallybook.domain.finance.taxes import rate_summary
from tallybook.domain.payments import SyncStatus, idempotency_key, line_key
from tallybook.services.ports import (
    Claim,
    Clock,
    CustomerStore,
    InvoiceStore,
    PaymentProvider,
    ProviderError,
    PushLine,
    RemoteInvoice,
    SyncRow,
    SyncStore,
)
from tallybook.services.sync.calls import RateGate, RetryPolicy, call

log = logging.getLogger("tallybook.sync")
T = TypeVar("T")
ZERO = Decimal(0)
CUSTOMER_POLL = 0.1  # seconds between looks at another worker's customer lease
CUSTOMER_WAIT = 30.0  # seconds a push waits for it before it is left pending


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """``concurrency``: invoices pushed at once (threads); ``batch``: invoices read per
    store round trip (leased ``4 x concurrency`` at a time); ``lease``: how long a worker
    holds an invoice (a killed worker's invoices wait this long); ``retry_later``:
    seconds before a pass retries an invoice left pending; ``policy``: in-process retries."""

    concurrency: int = 4
    batch: int = 100
    lease: timedelta = timedelta(minutes=5)
    retry_later: int = 60
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class SyncResult:
    """What a pass did: invoices synced, left pending (retry later), failed, and skipped
    (another worker held them)."""

    synced: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, status: SyncStatus, invoice_id: str, error: str | None) -> None:
        if status is SyncStatus.SYNCED:
            self.synced += 1
        elif status is SyncStatus.PENDING:
            self.pending += 1
        else:
            self.failed += 1
        if error is not None and len(self.errors) < 100:
            self.errors[invoice_id] = error


@dataclass(frozen=True, slots=True)
class PlannedPush:
    """``--dry-run``: what a pass would do with one invoice (``push``, ``void``, ``none``)
    and why it would fail before any request (amounts the provider cannot take)."""

    invoice: str
    number: str | None
    customer: str
    currency: str
    total: Decimal
    action: str
    error: str | None


def push_lines(invoice: Invoice) -> list[PushLine]:
    """The invoice items of an invoice: one per non-zero line, keyed by position, then one
    per exclusive tax rate (its tax over the invoice, ``domain.finance.taxes``), keyed by
    the positions after the lines, so the provider's total is Tallybook's. Inclusive tax
    is inside the line amounts already."""
    items = [
        PushLine(line_key(index), line.description, line.amount)
        for index, line in enumerate(invoice.lines)
        if line.amount != ZERO
    ]
    exclusive = [tax for tax in rate_summary(invoice.lines) if not tax.inclusive]
    for offset, tax in enumerate(exclusive):
        if tax.amount != ZERO:
            name = f"{tax.name} ({tax.percentage:f} %)"
            items.append(PushLine(line_key(len(invoice.lines) + offset), name, tax.amount))
    return items


class SyncService:
    """Pushes one tenant's final invoices to ``provider`` (see the module docstring)."""

    def __init__(
        self,
        provider: PaymentProvider,
        store: SyncStore,
        invoices: InvoiceStore,
        customers: CustomerStore,
        clock: Clock,
        options: SyncOptions | None = None,
        sleep: Callable[[int | float], None] = time.sleep,
    ):
        self.provider = provider
        self.store = store
        self._invoices = invoices
        self._customers = customers
        self._clock = clock
        self.options = options or SyncOptions()
        self._sleep = sleep
        self.gate = RateGate(sleep)
        # striped: one customer is resolved by one thread at a time (bounded memory)
        self._customer_locks = [threading.Lock() for _ in range(64)]

    @property
    def name(self) -> str:
        return self.provider.name

    # -- passes ------------------------------------------------------------------------

    def count_due(self, tenant_id: str, *, include_failed: bool = False) -> int:
        return self.store.count_due(
            self.name, tenant_id, self._clock.now(), include_failed=include_failed
        )

    def sync(
        self,
        tenant_id: str,
        *,
        include_failed: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> SyncResult:
        """One pass over everything due now; ``progress(n)`` after each invoice."""
        result = SyncResult()
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for ids in self._due_batches(tenant_id, include_failed):
                self._push_ids(pool, tenant_id, ids, result, progress)
        return result

    def push_marked(self) -> SyncResult:
        """The sync worker's step: claim and push up to ``batch`` rows marked due now (of
        every tenant; written with the ``invoice.finalized`` / ``invoice.voided`` fact, or
        left pending for a retry). ``skipped`` counts rows another worker took first."""
        result = SyncResult()
        marked = self.store.marked_due(self.name, self._clock.now(), limit=self.options.batch)
        if not marked:
            return result
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, invoice_id in marked:
            by_tenant.setdefault(tenant_id, []).append(invoice_id)
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for tenant_id, ids in sorted(by_tenant.items()):
                self._push_ids(pool, tenant_id, ids, result, None)
        if result.synced or result.failed or result.pending:
            log.info(
                "provider sync step",
                extra={
                    "provider": self.name,
                    "synced": result.synced,
                    "failed": result.failed,
                    "pending": result.pending,
                },
            )
        return result

    def _push_ids(
        self,
        pool: ThreadPoolExecutor,
        tenant_id: str,
        ids: list[str],
        result: SyncResult,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Lease ``ids`` a few at a time and push each leased one on ``pool``."""
        lock = threading.Lock()

        def one(claim: Claim) -> None:
            status, error = self.push_claimed(claim)
            with lock:
                result.add(status, claim.invoice_id, error)
            if progress is not None:
                progress(1)

        size = self.options.concurrency * 4  # leased together: one transaction
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            now = self._clock.now()
            claims = self.store.claim(self.name, tenant_id, chunk, now, now + self.options.lease)
            result.skipped += len(chunk) - len(claims)
            if progress is not None and len(chunk) > len(claims):
                progress(len(chunk) - len(claims))
            for _ in pool.map(one, claims):
                pass

    def _due_batches(self, tenant_id: str, include_failed: bool) -> Iterator[list[str]]:
        after: int | None = None
        while True:
            due = self.store.due(
                self.name,
                tenant_id,
                self._clock.now(),
                limit=self.options.batch,
                include_failed=include_failed,
                after=after,
            )
            if not due:
                return
            yield [invoice_id for invoice_id, _ in due]
            after = due[-1][1]

    def run_due(self) -> None:
        """The scheduler's job: a pass for every tenant with work."""
        for tenant_id in self.store.tenants_with_work(self.name, self._clock.now()):
            result = self.sync(tenant_id)
            if result.synced or result.failed or result.pending:
                log.info(
                    "provider sync pass",
                    extra={
                        "provider": self.name,
                        "tenant": tenant_id,
                        "synced": result.synced,
                        "failed": result.failed,
                        "pending": result.pending,
                    },
                )

    def push_now(self, tenant_id: str, invoice_id: str) -> SyncRow | None:
        """Push one invoice now (reconciliation ``--fix``); None when another worker holds
        it."""
        now = self._clock.now()
        claims = self.store.claim(self.name, tenant_id, [invoice_id], now, now + self.options.lease)
        if not claims:
            return None
        self.push_claimed(claims[0])
        return self.store.get(self.name, tenant_id, invoice_id)

    def plan(self, tenant_id: str, *, include_failed: bool = False) -> list[PlannedPush]:
        """``--dry-run``: what a pass would do, without a single provider request."""
        planned = []
        for ids in self._due_batches(tenant_id, include_failed):
            for invoice_id in ids:
                invoice = self._invoices.get(tenant_id, invoice_id)
                if invoice is None:
                    continue
                action = "void" if invoice.status is InvoiceStatus.VOID else "push"
                error = None
                if action == "push":
                    try:
                        self.provider.check_amounts(
                            invoice.currency, [line.amount for line in push_lines(invoice)]
                        )
                    except ProviderError as exc:
                        error = f"{exc.code}: {exc.message}"
                planned.append(
                    PlannedPush(
                        invoice.id,
                        invoice.display_number,
                        invoice.customer,
                        invoice.currency,
                        invoice.totals.total,
                        action,
                        error,
                    )
                )
        return planned

    def external(self, tenant_id: str, invoice: Invoice) -> dict[str, Any] | None:
        """``external.stripe`` of ``GET /v1/invoices/{id}``: None for drafts and for
        invoices that never go to the provider (voided, or paid here, before a push)."""
        if invoice.status is InvoiceStatus.DRAFT:
            return None
        row = self.store.get(self.name, tenant_id, invoice.id)
        if row is None:
            if invoice.status is not InvoiceStatus.FINALIZED:
                return None
            return {"id": None, "status": "pending", "error": None}
        return {"id": row.remote_id, "status": row.status.value, "error": row.error}

    # -- one invoice -------------------------------------------------------------------

    def push_claimed(self, claim: Claim) -> tuple[SyncStatus, str | None]:
        """Bring one leased invoice's remote side to its local state; the outcome is
        written with the claim (see the module docstring)."""
        invoice = self._invoices.get(claim.tenant_id, claim.invoice_id)
        now = self._clock.now()
        if invoice is None:
            self.store.finish(self.name, claim, status=SyncStatus.FAILED, now=now, error="gone")
            return SyncStatus.FAILED, "gone"
        try:
            if invoice.status is InvoiceStatus.VOID:
                remote = self._void(claim, invoice)
            else:
                remote = self._push(claim, invoice)
        except ProviderError as exc:
            return self._failure(claim, exc)
        except NotFound as exc:
            return self._finish_failed(claim, f"{exc.code}: {exc.message}")
        if remote is not None and (
            remote.currency != invoice.currency or remote.total != invoice.totals.total
        ):
            error = (
                f"amount_mismatch: the provider's invoice {remote.id} totals "
                f"{remote.total:f} {remote.currency}, Tallybook's {invoice.totals.total:f} "
                f"{invoice.currency}"
            )
            return self._finish_failed(claim, error, remote)
        self.store.finish(
            self.name,
            claim,
            status=SyncStatus.SYNCED,
            now=self._clock.now(),
            remote_id=None if remote is None else remote.id,
            remote_status=None if remote is None else remote.status,
            local_status=invoice.status.value,
        )
        return SyncStatus.SYNCED, None

    def _push(self, claim: Claim, invoice: Invoice) -> RemoteInvoice:
        tenant = claim.tenant_id
        lines = push_lines(invoice)
        self.provider.check_amounts(invoice.currency, [line.amount for line in lines])
        remote, generation = self._existing(claim)
        if remote is None:
            customer = self._customer(tenant, invoice.customer, invoice.id)
            key = idempotency_key(tenant, invoice.id, "invoice", generation=generation)
            remote = self._call(
                lambda: self.provider.create_invoice(tenant, invoice, customer, key)
            )
        if remote.status != "draft":
            return remote
        draft = remote
        for line in lines:
            if line.key in draft.line_keys:
                continue
            key = idempotency_key(tenant, invoice.id, "item", int(line.key), generation)
            self._call(
                lambda line=line, key=key: self.provider.add_line(  # type: ignore[misc]
                    draft, tenant, invoice, line, key
                )
            )
        finalize_key = idempotency_key(tenant, invoice.id, "finalize", generation=generation)
        return self._call(lambda: self.provider.finalize(draft.id, finalize_key))

    def _void(self, claim: Claim, invoice: Invoice) -> RemoteInvoice | None:
        remote, generation = self._existing(claim)
        if remote is None:
            return None  # never pushed (or gone): nothing to void
        tenant = claim.tenant_id
        if remote.status == "draft":  # a push stopped half way: finalize, then void
            key = idempotency_key(tenant, invoice.id, "finalize", generation=generation)
            draft_id = remote.id
            remote = self._call(lambda: self.provider.finalize(draft_id, key))
        if remote.status in ("open", "uncollectible"):
            key = idempotency_key(tenant, invoice.id, "void", generation=generation)
            remote_id = remote.id
            remote = self._call(lambda: self.provider.void(remote_id, key))
        return remote

    def _existing(self, claim: Claim) -> tuple[RemoteInvoice | None, int]:
        """The remote invoice (stored id, else a metadata search) and the key generation;
        a stored one that vanished starts the next generation."""
        generation = claim.row.generation
        if claim.row.remote_id is not None:
            remote_id = claim.row.remote_id
            try:
                return self._call(lambda: self.provider.get_invoice(remote_id)), generation
            except ProviderError as exc:
                if exc.code != "not_found":
                    raise
            generation = self.store.restart(self.name, claim, self._clock.now())
        elif claim.row.attempts == 1:
            return None, generation  # the first attempt ever: nothing to find
        found = self._call(lambda: self.provider.find_invoice(claim.tenant_id, claim.invoice_id))
        return found, generation

    def _customer(self, tenant_id: str, customer_id: str, invoice_id: str) -> str:
        """The remote customer of ``customer_id``: the stored id, else (holding the
        customer's lease, so one worker in any process at a time) a metadata search, else
        a create keyed ``tb:{tenant}:{invoice}:customer``. A lease another worker holds
        longer than ``CUSTOMER_WAIT`` leaves the invoice pending (retryable)."""
        with self._customer_lock(tenant_id, customer_id):
            stored = self.store.customer_remote(self.name, tenant_id, customer_id)
            if stored is not None:
                return stored
            token = self._claim_customer(tenant_id, customer_id)
            saved = False  # saving the id ends the lease in the same transaction
            try:
                stored = self.store.customer_remote(self.name, tenant_id, customer_id)
                if stored is not None:  # created by the worker that held the lease
                    return stored
                remote = self._call(lambda: self.provider.find_customer(tenant_id, customer_id))
                if remote is None:
                    customer = self._customers.get(tenant_id, customer_id)
                    if customer is None:
                        raise NotFound(f"no customer {customer_id!r}", code="customer_not_found")
                    key = idempotency_key(tenant_id, invoice_id, "customer")
                    remote = self._call(
                        lambda: self.provider.create_customer(tenant_id, customer, key)
                    )
                stored = self.store.save_customer(
                    self.name, tenant_id, customer_id, remote, self._clock.now(), token
                )
                saved = True
                return stored
            finally:
                if not saved:
                    self.store.release_customer(self.name, tenant_id, customer_id, token)

    def _claim_customer(self, tenant_id: str, customer_id: str) -> str:
        """Wait (real time, polling) for the customer's lease (it lasts ``lease``, as an
        invoice's does); ``ProviderError`` (retryable) after ``CUSTOMER_WAIT``."""
        deadline = time.monotonic() + min(self.options.lease.total_seconds(), CUSTOMER_WAIT)
        while True:
            now = self._clock.now()
            token = self.store.claim_customer(
                self.name, tenant_id, customer_id, now, now + self.options.lease
            )
            if token is not None:
                return token
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"another worker is creating the remote customer of {customer_id!r}",
                    code="customer_busy",
                    retryable=True,
                )
            time.sleep(CUSTOMER_POLL)

    def _customer_lock(self, tenant_id: str, customer_id: str) -> threading.Lock:
        digest = zlib.crc32(f"{tenant_id}\0{customer_id}".encode())
        return self._customer_locks[digest % len(self._customer_locks)]

    def _call(self, fn: Callable[[], T]) -> T:
        return call(fn, self.options.policy, self.gate, self._sleep)

    # -- outcomes ----------------------------------------------------------------------

    def _failure(self, claim: Claim, exc: ProviderError) -> tuple[SyncStatus, str]:
        error = f"{exc.code}: {exc.message}"
        if not exc.retryable:
            return self._finish_failed(claim, error)
        now = self._clock.now()
        wait = max(self.options.retry_later, exc.retry_after or 0)
        self.store.finish(
            self.name,
            claim,
            status=SyncStatus.PENDING,
            now=now,
            error=error,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        return SyncStatus.PENDING, error

    def _finish_failed(
        self, claim: Claim, error: str, remote: RemoteInvoice | None = None
    ) -> tuple[SyncStatus, str]:
        self.store.finish(
            self.name,
            claim,
            status=SyncStatus.FAILED,
            now=self._clock.now(),
            remote_id=None if remote is None else remote.id,
            remote_status=None if remote is None else remote.status,
            error=error,
        )
        return SyncStatus.FAILED, error
