"""The invoice of a paid credit grant (CONTRACT Part 2, "Credits").

A ``paid`` grant is bought: it is billed on one ``credit_purchase`` line of an invoice of
its own, at ``purchase_price`` (default: the grant's ``amount``), finalized (and so
numbered) in the same transaction that stores the grant. The grant counts from its
``effective_at`` whether or not that invoice is ever paid. A prepaid commitment's grant
is not billed here: its ``commitment`` line is its purchase.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.ledger import Grant


def purchase_price(grant: Grant) -> Decimal:
    """What the customer pays for ``grant``: its ``purchase_price``, else its ``amount``."""
    return grant.amount if grant.purchase_price is None else grant.purchase_price


def purchase_invoice(grant: Grant, now: datetime) -> InvoiceDraft:
    """The one-line ``credit_purchase`` invoice of a paid ``grant``, issued at ``now``.

    Its period is ``[now, now]`` (the instant of the purchase); the line names the grant
    in ``charge`` and carries the granted amount as its quantity. Amounts in the grant's
    currency, already in its minor unit (``ledger.check_grant`` ensured that)."""
    price = purchase_price(grant)
    line = Line(
        type=LineType.CREDIT_PURCHASE,
        charge=grant.id,
        description=grant.description or f"Credit purchase: {grant.amount} {grant.currency}",
        quantity=Decimal(1),
        unit_amount=price,
        amount=price,
        period_start=grant.effective_at,
        period_end=grant.expires_at,
        customer=grant.customer,
    )
    return InvoiceDraft(
        customer=grant.customer,
        currency=grant.currency,
        kind=SlotKind.CREDIT_PURCHASE,
        period_start=now,
        period_end=now,
        issue_at=now,
        lines=(line,),
    )
