"""One invoice (contract JSON) as a view with its parties' names filled in, for the HTML
page and the PDF served by the API and the portal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tallybook.documents.invoice_view import InvoiceView, Party, invoice_view
from tallybook.domain.subscriptions.model import Customer

if TYPE_CHECKING:
    from tallybook.services.customers import CustomerService
    from tallybook.services.tenants import TenantService


def document_view(
    customers: CustomerService,
    tenants: TenantService,
    tenant: str,
    invoice: Mapping[str, Any],
    locale: str,
) -> InvoiceView:
    """The view of one invoice of ``tenant`` (contract JSON), with names filled in."""
    ids = {str(invoice.get("customer"))}
    ids |= {str(line["customer"]) for line in invoice.get("lines", ()) if line.get("customer")}
    found = customers.get_many(tenant, ids)
    bill_to = found.get(str(invoice.get("customer")))
    children = {c.id: c.name or c.id for c in found.values() if c is not bill_to}
    return invoice_view(
        invoice,
        issuer=Party(tenants.name(tenant)),
        customer=_party(bill_to) if bill_to else None,
        children=children,
        timezone=bill_to.timezone if bill_to else None,
        locale=locale,
    )


def _party(customer: Customer) -> Party:
    detail = [customer.id] if customer.name else []
    if customer.email:
        detail.append(customer.email)
    return Party(customer.name or customer.id, tuple(detail))
