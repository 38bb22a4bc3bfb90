"""Billing ports: stored invoices, what is due, and one billing-run chunk's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.billing.drafts import ChunkPlan, DraftKey, OpenDraft
from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.billing.lines import Line
from tallybook.domain.credits.commitments import Commitment
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.subscriptions.model import Customer
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.domain.webhooks import OutboxMessage
from tallybook.services.ports.common import UnitOfWork


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


class BillingUnitOfWork(UnitOfWork, Protocol):
    """One chunk of a billing run: a transaction (``with``), rolled back unless committed;
    a unique-key race lost to a concurrent run raises ``WriteConflict``."""

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
