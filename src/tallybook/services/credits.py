"""Credits use cases: grants, void, the live balance, the ledger; and the billing run's part.

The rules are ``domain.credits.ledger``'s; this module opens units of work and feeds them.

- ``CreditService.create_grant`` checks the request (customer, currency, amounts, dates,
  priority, ``applies_to`` charges against the published plans), then in one transaction
  on the customer's ledger stores the grant and its ``grant`` entry. A repeated ``id``
  with the same body returns the stored grant; with another body it is ``409 conflict``.
- ``CreditService.summary`` is ``GET /v1/customers/{id}/credits``: ``balance`` (remaining
  of grants live now), ``available`` (balance minus what the stored drafts and the current
  period would draw now), ``projected_available`` (the same with the period-end projection)
  and ``projected_shortfall`` (the projected eligible amount credits cannot pay).
- ``apply_to_drafts`` and ``settle`` are the billing run's part: they put ``credit``
  lines on the account's drafts (projected on drafts, drawn on finals) and turn the final
  invoices' credit lines, and the grants that are due to expire, into ledger entries
  written in the run's unit of work, with the invoices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from tallybook.domain.billing.invoice import InvoiceDraft, InvoiceStatus
from tallybook.domain.billing.lines import LineType
from tallybook.domain.credits.ledger import (
    AppliesTo,
    Category,
    Entry,
    EntryType,
    Grant,
    apply_credits,
    check_grant,
    due_expiries,
    void_entry,
)
from tallybook.domain.errors import Conflict, CurrencyMismatch, NotFound, ValidationError
from tallybook.domain.ids import new_id
from tallybook.domain.money import is_currency, round_amount
from tallybook.domain.pricing.registry import billed_charge_keys
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.finance.invoicing import FinanceOf, purchase_draft
from tallybook.services.ports import Clock, CreditStore

if TYPE_CHECKING:
    from tallybook.services.billing.invoices import InvoiceService
    from tallybook.services.billing.previews import PreviewService

ZERO = Decimal(0)
AMPLE = Decimal(10) ** 30  # "as much as it takes", for the shortfall


class Customers(Protocol):
    """``services.customers.CustomerService``."""

    def get(self, tenant_id: str, customer_id: str) -> Customer: ...


class ChargeKeys(Protocol):
    """The published plans' charge keys (``services.catalog.CatalogService``)."""

    def list_plans(self, tenant_id: str) -> Sequence[Any]: ...


class Drafts(Protocol):
    """What the customer's open invoices and current period would be billed now."""

    def stored_drafts(self, tenant_id: str, customer: str) -> list[InvoiceDraft]: ...

    def upcoming(self, tenant_id: str, customer: str) -> tuple[InvoiceDraft, InvoiceDraft] | None:
        """(as measured, projected to the period end), or None outside a period."""
        ...


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """A ``POST /v1/customers/{id}/credit-grants`` body, decimals and instants parsed."""

    amount: Decimal
    currency: str
    id: str | None = None
    category: str = "promotional"
    priority: int = 50
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    applies_to: Any = None
    purchase_price: Decimal | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CreditSummary:
    currency: str
    balance: Decimal
    available: Decimal
    projected_available: Decimal
    projected_shortfall: Decimal
    grants: list[tuple[Grant, Decimal]]


class CreditService:
    def __init__(
        self,
        store: CreditStore,
        customers: Customers,
        plans: ChargeKeys,
        clock: Clock,
        drafts: Drafts | None = None,
    ):
        self._store = store
        self._customers = customers
        self._plans = plans
        self._clock = clock
        self._drafts = drafts
        # called with (tenant, customer) after a change that may lower ``available``
        # (bootstrap wires the top-up check here)
        self.after_change: Callable[[str, str], object] | None = None
        # taxes and parties of credit_purchase invoices (bootstrap: BillingService.finance_of)
        self.finance_of: FinanceOf | None = None

    # -- grants -------------------------------------------------------------------------

    def create_grant(
        self, tenant_id: str, customer_id: str, request: GrantRequest, *, source: str = "api"
    ) -> tuple[Grant, bool]:
        """Store a grant (and its ``grant`` entry); (grant, created). Errors: NotFound
        ``customer_not_found``; ValidationError ``unknown_currency``, ``currency_mismatch``,
        ``invalid_category``, ``invalid_applies_to``, ``unknown_charge`` and
        ``ledger.check_grant``'s codes; Conflict ``conflict`` for a known id with another body."""
        customer = self._customers.get(tenant_id, customer_id)
        now = self._clock.now()
        grant = self._grant(tenant_id, customer, request, now)
        paid = grant.category is Category.PAID
        finance = self.finance_of(tenant_id) if paid and self.finance_of else None
        with self._store.ledger(tenant_id, customer.id) as uow:
            uow.lock()
            existing = uow.grant(grant.id)
            if existing is not None:
                if existing.same_request(grant) or (
                    request.effective_at is None
                    and existing.same_request(replace(grant, effective_at=existing.effective_at))
                ):
                    return existing, False
                raise Conflict(
                    f"credit grant {grant.id!r} exists with another body",
                    code="conflict",
                    details={"grant": grant.id},
                )
            uow.insert_grant(grant)
            uow.append(
                grant.currency,
                [Entry(grant.id, EntryType.GRANT, grant.amount, grant.effective_at)],
                now,
            )
            if paid:
                invoice = purchase_draft(finance, customer, grant, now)
                uow.insert_final_invoice(new_id("inv"), invoice, now)
            uow.commit()
        return grant, True

    def _grant(
        self, tenant_id: str, customer: Customer, request: GrantRequest, now: datetime
    ) -> Grant:
        currency = request.currency.upper()
        if not is_currency(currency):
            raise ValidationError(
                f"unknown currency {request.currency!r}",
                code="unknown_currency",
                details={"currency": request.currency},
            )
        if currency != customer.currency:
            raise CurrencyMismatch(
                f"customer {customer.id!r} is billed in {customer.currency}, not {currency}",
                details={"customer_currency": customer.currency},
            )
        try:
            category = Category(request.category)
        except ValueError:
            raise ValidationError(
                'category must be "promotional" or "paid"', code="invalid_category"
            ) from None
        applies_to = AppliesTo.from_json(request.applies_to)
        self._check_charges(tenant_id, applies_to)
        grant = Grant(
            id=request.id or new_id("cg"),
            customer=customer.id,
            currency=currency,
            amount=request.amount,
            category=category,
            priority=request.priority,
            effective_at=request.effective_at or now,
            expires_at=request.expires_at,
            applies_to=applies_to,
            created_at=now,
            purchase_price=request.purchase_price,
            description=request.description,
        )
        check_grant(grant)
        return grant

    def _check_charges(self, tenant_id: str, applies_to: AppliesTo) -> None:
        if applies_to.scope != "charges":
            return
        known = {
            key
            for plan in self._plans.list_plans(tenant_id)
            for key in billed_charge_keys(plan.charges)
        }
        missing = [key for key in applies_to.charges if key not in known]
        if missing:
            raise ValidationError(
                f"applies_to names charges no plan has: {', '.join(missing)}",
                code="unknown_charge",
                details={"charges": missing},
            )

    def grants(self, tenant_id: str, customer_id: str) -> list[tuple[Grant, Decimal]]:
        """The customer's grants with their remaining amounts, oldest first."""
        customer = self._customers.get(tenant_id, customer_id)
        return self._store.balances(tenant_id, customer.id)

    def void_grant(self, tenant_id: str, grant_id: str) -> tuple[Grant, Decimal]:
        """Take a grant's remaining to zero with one ``void`` entry (again: no entry)."""
        grant = self._store.get_grant(tenant_id, grant_id)
        if grant is None:
            raise NotFound(
                f"no credit grant {grant_id!r}",
                code="credit_grant_not_found",
                details={"grant": grant_id},
            )
        now = self._clock.now()
        with self._store.ledger(tenant_id, grant.customer) as uow:
            uow.lock()
            rest = dict((g.id, left) for g, left in uow.balances()).get(grant.id, ZERO)
            entry = void_entry(grant, rest, now)
            if entry is not None:
                uow.append(grant.currency, [entry], now)
            uow.commit()
        if self.after_change is not None:
            self.after_change(tenant_id, grant.customer)
        return grant, ZERO

    def ledger(
        self, tenant_id: str, customer_id: str, *, after: int, limit: int
    ) -> list[tuple[int, Entry]]:
        """The customer's ledger (its own currency), oldest first, after entry ``after``."""
        customer = self._customers.get(tenant_id, customer_id)
        return self._store.entries(
            tenant_id, customer.id, customer.currency, after=after, limit=limit
        )

    # -- the live balance -----------------------------------------------------------------

    def available(self, tenant_id: str, customer_id: str) -> Decimal:
        """``summary``'s ``available``: what the customer's grants could still pay now."""
        return self.summary(tenant_id, customer_id).available

    def summary(self, tenant_id: str, customer_id: str) -> CreditSummary:
        customer = self._customers.get(tenant_id, customer_id)
        now = self._clock.now()
        grants = [
            (g, left)
            for g, left in self._store.balances(tenant_id, customer.id)
            if g.currency == customer.currency
        ]
        live = [(g, left) for g, left in grants if g.live_at(now) and left > 0]
        balance = sum((left for _, left in live), ZERO)
        left = {g.id: rest for g, rest in grants}
        pool = [g for g, _ in grants]
        drawn = ZERO
        upcoming = None
        if self._drafts is not None:
            for draft in self._drafts.stored_drafts(tenant_id, customer.id):
                drawn += _draw(draft, pool, left)
            upcoming = self._drafts.upcoming(tenant_id, customer.id)
        available = projected = balance - drawn
        shortfall = ZERO
        if upcoming is not None:
            measured, guess = upcoming
            available -= _draw(measured, pool, dict(left))
            projected_draw = _draw(guess, pool, dict(left))
            projected -= projected_draw
            ample = {g.id: AMPLE for g in pool}
            shortfall = _draw(guess, pool, ample) - projected_draw
        currency = customer.currency
        return CreditSummary(
            currency,
            round_amount(balance, currency),
            round_amount(max(available, ZERO), currency),
            round_amount(max(projected, ZERO), currency),
            round_amount(max(shortfall, ZERO), currency),
            [
                (g, rest)
                for g, rest in grants
                if rest > 0 and (g.expires_at is None or now < g.expires_at)
            ],
        )


def _draw(draft: InvoiceDraft, grants: Sequence[Grant], left: dict[str, Decimal]) -> Decimal:
    """What ``draft`` (its non-credit lines) would draw from ``left`` now (drawn in place)."""
    lines = [line for line in draft.lines if line.type is not LineType.CREDIT]
    credit = apply_credits(
        lines, grants, left, draft.currency, (draft.period_start, draft.period_end)
    )
    return -sum((line.amount for line in credit), ZERO)


# -- the billing run's part ---------------------------------------------------------------


AfterFinal = Callable[[InvoiceDraft, dict[str, Decimal]], list[Grant]]


def apply_to_drafts(
    decided: Sequence[tuple[InvoiceDraft, bool]],
    balances: Sequence[tuple[Grant, Decimal]],
    after_final: AfterFinal | None = None,
) -> list[tuple[InvoiceDraft, bool]]:
    """The account's drafts with ``credit`` lines: finals first draw (in issue order), then
    the drafts staying open show what they would draw from what is left.

    ``after_final`` (plan credits' ``PlanCreditCloser``) is called after each final draft
    draws, with what is left (grant id -> amount, changed in place); the grants it returns
    can pay the drafts after it."""
    if not balances:
        return list(decided)
    grants = [g for g, _ in balances]
    left = {g.id: rest for g, rest in balances}
    order = sorted(range(len(decided)), key=lambda i: (not decided[i][1], decided[i][0].issue_at))
    result: list[tuple[InvoiceDraft, bool] | None] = [None] * len(decided)
    for index in order:
        draft, final = decided[index]
        paid: dict[int, Decimal] = {}
        credit = apply_credits(
            draft.lines, grants, left, draft.currency, (draft.period_start, draft.period_end), paid
        )
        if credit:
            own = tuple(
                line.with_credited(paid[id(line)]) if id(line) in paid else line
                for line in draft.lines
            )
            draft = replace(draft, lines=(*own, *credit))
        if final and after_final is not None:
            grants += after_final(draft, left)
        result[index] = (draft, final)
    return [item for item in result if item is not None]


def grant_entry(grant: Grant) -> Entry:
    """The ``grant`` entry adding a new grant's amount at its ``effective_at``."""
    return Entry(grant.id, EntryType.GRANT, grant.amount, grant.effective_at)


def bought_on(finals: Sequence[tuple[str, InvoiceDraft]], grants: Sequence[Grant]) -> list[Grant]:
    """The ``grants`` whose purchase line (a ``commitment`` line naming the term) is on
    one of the invoices finalized now: they exist from this transaction on."""
    if not grants:
        return []
    sold = {
        f"{line.charge}_prepaid"
        for _, draft in finals
        for line in draft.lines
        if line.type is LineType.COMMITMENT
    }
    return [grant for grant in grants if grant.id in sold]


def settle(
    invoices: Sequence[tuple[str, InvoiceDraft]],
    open_drafts: Sequence[InvoiceDraft],
    balances: Sequence[tuple[Grant, Decimal]],
    as_of: datetime,
    billed_through: datetime | None,
    closing: Mapping[Any, Sequence[Entry]] | None = None,
    new_grants: Sequence[Grant] = (),
) -> list[Entry]:
    """The ledger entries of one account's run: a ``debit`` per credit line of each final
    invoice ((id, draft), in numbering order), each followed by the entries its
    finalization closed (``closing``, by draft key: plan credits' expiries and rollovers,
    which add ``new_grants``), then the ``expiry`` of grants now closed."""
    entries: list[Entry] = []
    left = {g.id: rest for g, rest in balances}
    for invoice_id, draft in invoices:
        for index, line in enumerate(draft.lines):
            if line.type is not LineType.CREDIT:
                continue
            entries.append(
                Entry(
                    line.charge, EntryType.DEBIT, line.amount, as_of, invoice=invoice_id, line=index
                )
            )
            left[line.charge] = left.get(line.charge, ZERO) + line.amount
        for entry in (closing or {}).get(draft.key, ()):
            entries.append(entry)
            left[entry.grant] = left.get(entry.grant, ZERO) + entry.amount
    periods = [(d.period_start, d.period_end) for d in open_drafts]
    grants = [*(g for g, _ in balances), *new_grants]
    entries += due_expiries(grants, left, as_of, periods, billed_through)
    return entries


class OpenInvoices:
    """``Drafts`` from the invoice and preview services: the customer's stored drafts and
    its upcoming invoice (measured and projected), for ``CreditService.summary``."""

    def __init__(self, invoices: InvoiceService, previews: PreviewService):
        self._invoices = invoices
        self._previews = previews

    def stored_drafts(self, tenant_id: str, customer: str) -> list[InvoiceDraft]:
        found = self._invoices.list(
            tenant_id, customer=customer, status=InvoiceStatus.DRAFT, limit=1000
        )
        return [
            InvoiceDraft(
                i.customer, i.currency, i.kind, i.period_start, i.period_end, i.issue_at, i.lines
            )
            for i in found.items
        ]

    def upcoming(self, tenant_id: str, customer: str) -> tuple[InvoiceDraft, InvoiceDraft] | None:
        try:
            upcoming = self._previews.upcoming_invoice(tenant_id, customer)
        except NotFound:
            return None
        return upcoming.draft, upcoming.projected
