"""A billing run's finance step: taxes after credits, and the parties of final invoices.

``InvoiceFinance.apply`` is called once per account by ``services/billing/runs.py`` right
after credits and commitments are applied (``services.credits.apply_to_drafts``): this is
the one place where the order "credits, then tax" is kept. It taxes every draft through
the ``ports.TaxCalculator`` (plan charge rates win over the customer's) and gives each
draft that finalizes now a snapshot of the seller and buyer (``domain.finance.parties``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.catalog.model import Plan
from tallybook.domain.errors import TallybookError
from tallybook.domain.finance.parties import Seller, snapshot
from tallybook.domain.subscriptions.model import Customer, PlanRef, Subscription
from tallybook.services.ports import DraftTaxes


@dataclass(frozen=True, slots=True)
class InvoiceFinance:
    taxes: DraftTaxes
    seller: Seller
    tenant_name: str

    def apply(
        self,
        customer: Customer,
        subscriptions: Sequence[Subscription],
        plans: Mapping[PlanRef, Plan],
        decided: Sequence[tuple[InvoiceDraft, bool]],
    ) -> list[tuple[InvoiceDraft, bool]]:
        """The account's (draft, finalizes now) pairs taxed, finals with their parties."""
        rates = charge_rates(subscriptions, plans)
        parties = snapshot(self.seller, self.tenant_name, customer.billing, customer)
        result = []
        for draft, final in decided:
            taxed = self.taxes.tax(customer, draft, rates)
            if final:
                taxed = replace(taxed, parties=parties)
            result.append((taxed, final))
        return result


def charge_rates(
    subscriptions: Sequence[Subscription], plans: Mapping[PlanRef, Plan]
) -> dict[tuple[str | None, str], tuple[str, ...]]:
    """(subscription, charge key) -> the tax rate ids the charge names, over every phase's
    plan version (a later phase's charge wins when versions differ)."""
    found: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for sub in subscriptions:
        for phase in sub.phases:
            try:
                plan = plans[phase.plan]
            except (KeyError, TallybookError):
                continue
            for charge in plan.charges:
                if charge.tax_rates:
                    found[(sub.id, charge.key)] = charge.tax_rates
    return found
