"""Credits ports (issue 9): one customer's locked ledger, grants and balances, top-up rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.credits.top_up import TopUpRule
from tallybook.services.ports.common import UnitOfWork


class CreditUnitOfWork(UnitOfWork, Protocol):
    """One customer's ledger transaction (``with``), rolled back unless committed."""

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
