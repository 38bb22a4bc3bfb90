"""Finance ports (issue 16): tax rates and calculators, credit notes, invoice e-mails,
revenue recognition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from tallybook.domain.billing.invoice import Invoice, InvoiceDraft
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.finance.delivery import Delivery, DeliveryStatus, Mail
from tallybook.domain.finance.logos import Logo
from tallybook.domain.finance.taxes import TaxRate
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.ports.common import UnitOfWork


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


class CreditNoteUnitOfWork(UnitOfWork, Protocol):
    """One customer's transaction for a credit note (``adapters/store/credit_notes.py``)."""

    def lock(self) -> bool: ...

    def invoice(self, invoice_id: str) -> Invoice | None: ...

    def notes(self, invoice_id: str) -> list[CreditNote]: ...

    def take_number(self) -> int: ...

    def insert_note(self, note: CreditNote) -> None: ...

    def insert_grant(self, grant: Grant) -> None: ...

    def append(self, currency: str, entries: Sequence[Entry], now: datetime) -> list[Entry]: ...


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


class LogoStore(Protocol):
    """Uploaded seller logos by tenant and SHA-256 (``adapters/store/logos.py``); rows are
    written once and never changed or deleted (final invoices name them by hash)."""

    def put_logo(self, tenant_id: str, logo: Logo, now: datetime) -> None:
        """Store ``logo`` unless the tenant already has one with its hash."""
        ...

    def get_logo(self, tenant_id: str, sha256: str) -> Logo | None: ...
