"""A billing run's finance step: taxes after credits, and the parties of final invoices.

``InvoiceFinance.apply`` is called once per account by ``services/billing/runs.py`` right
after credits and commitments are applied (``services.credits.apply_to_drafts``): this is
the one place where the order "credits, then tax" is kept. It taxes every draft through
the ``ports.TaxCalculator`` (plan charge rates win over the customer's) and gives each
draft that finalizes now a snapshot of the seller and buyer (``domain.finance.parties``).

Invoices finalized outside billing runs, the ``credit_purchase`` invoice of a paid credit
grant or an automatic top-up, go through ``purchase_draft``: taxed at the customer's rates
(no plan charge names rates for it; exempt and reverse-charge customers get their note)
and given the parties. Tax is due when credits are bought, so the usage they later pay is
taxed net of them ("credits, then tax") and nothing is taxed twice or never; promotional
grants are never invoiced and lower the taxed base like a discount.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.catalog.model import CreditGrantCharge, Plan
from tallybook.domain.credits.ledger import Grant
from tallybook.domain.credits.purchase import purchase_invoice
from tallybook.domain.errors import TallybookError
from tallybook.domain.finance.parties import Seller, snapshot
from tallybook.domain.subscriptions.model import Customer, PlanRef, Subscription
from tallybook.services.ports import DraftTaxes


@dataclass(frozen=True, slots=True)
class InvoiceFinance:
    """One run's (or one purchase's) taxes and seller. ``plan_rates`` memoizes, per plan
    version, the tax rate ids its charges name (``plan_charge_rates``): a run looks each
    plan up once instead of once per account."""

    taxes: DraftTaxes
    seller: Seller
    tenant_name: str
    plan_rates: dict[PlanRef, PlanRates] = field(default_factory=dict, compare=False)

    def apply(
        self,
        customer: Customer,
        subscriptions: Sequence[Subscription],
        plans: Mapping[PlanRef, Plan],
        decided: Sequence[tuple[InvoiceDraft, bool]],
    ) -> list[tuple[InvoiceDraft, bool]]:
        """The account's (draft, finalizes now) pairs taxed, finals with their parties
        (the snapshot is built only when a draft finalizes)."""
        rates = charge_rates(subscriptions, plans, self.plan_rates)
        parties: dict[str, Any] | None = None
        result = []
        for draft, final in decided:
            taxed = self.taxes.tax(customer, draft, rates)
            if final:
                if parties is None:
                    parties = snapshot(self.seller, self.tenant_name, customer.billing, customer)
                taxed = replace(taxed, parties=parties)
            result.append((taxed, final))
        return result

    def one(self, customer: Customer, draft: InvoiceDraft) -> InvoiceDraft:
        """``draft``, final on its own (outside a billing run), taxed at the customer's
        rates and given the parties."""
        return self.apply(customer, (), {}, [(draft, True)])[0][0]


FinanceOf = Callable[[str], "InvoiceFinance | None"]
"""A tenant's taxes and seller for one use (``BillingService.finance_of``); None when
finance is not wired. Call it outside transactions: it reads rates and the seller."""


def purchase_draft(
    finance: InvoiceFinance | None, customer: Customer, grant: Grant, now: datetime
) -> InvoiceDraft:
    """The ``credit_purchase`` invoice of a paid ``grant`` (``domain.credits.purchase``),
    taxed at ``customer``'s rates with the parties when ``finance`` is given."""
    draft = purchase_invoice(grant, now)
    return draft if finance is None else finance.one(customer, draft)


PlanRates = tuple[tuple[str, tuple[str, ...]], ...]
"""A plan version's (charge key, tax rate ids) for each charge naming rates, in order."""


def plan_charge_rates(plan: Plan) -> PlanRates:
    """(charge key, tax rate ids) of ``plan``'s charges that name rates; credit grant
    charges bill no line of their own (plan credits) and are left out."""
    return tuple(
        (charge.key, charge.tax_rates)
        for charge in plan.charges
        if not isinstance(charge, CreditGrantCharge) and charge.tax_rates
    )


def charge_rates(
    subscriptions: Sequence[Subscription],
    plans: Mapping[PlanRef, Plan],
    memo: dict[PlanRef, PlanRates] | None = None,
) -> dict[tuple[str | None, str], tuple[str, ...]]:
    """(subscription, charge key) -> the tax rate ids the charge names, over every phase's
    plan version (a later phase's charge wins when versions differ). ``memo`` keeps each
    plan version's rates between calls (a plan that cannot be read is not memoized)."""
    found: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for sub in subscriptions:
        for phase in sub.phases:
            named = None if memo is None else memo.get(phase.plan)
            if named is None:
                try:
                    named = plan_charge_rates(plans[phase.plan])
                except (KeyError, TallybookError):
                    continue
                if memo is not None:
                    memo[phase.plan] = named
            for key, rates in named:
                found[(sub.id, key)] = rates
    return found
