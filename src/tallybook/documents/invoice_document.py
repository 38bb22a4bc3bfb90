"""One invoice (contract JSON) as a view with its parties filled in, for the HTML page
and the PDF served by the API and the portal (and attached to invoice e-mails).

A final invoice shows the seller and buyer it kept when it was finalized (``parties``);
a draft or preview shows the current seller profile and customer details. The seller's
logo is the one its ``logo`` hash names (``InvoiceSettings.logo``): for a final invoice
the logo it was finalized with, even after a new upload or a removal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tallybook.documents.invoice_view import InvoiceView, Party, invoice_view
from tallybook.domain.errors import TallybookError
from tallybook.domain.finance.parties import Address, Seller, snapshot
from tallybook.domain.subscriptions.model import Customer

if TYPE_CHECKING:
    from tallybook.services.customers import CustomerService
    from tallybook.services.finance.parties import InvoiceSettings
    from tallybook.services.tenants import TenantService


def document_view(
    customers: CustomerService,
    tenants: TenantService,
    tenant: str,
    invoice: Mapping[str, Any],
    locale: str,
    *,
    settings: InvoiceSettings | None = None,
    notes: Sequence[str] = (),
) -> InvoiceView:
    """The view of one invoice of ``tenant`` (contract JSON), with names filled in;
    ``notes`` lists the credit notes issued against it."""
    ids = {str(invoice.get("customer"))}
    ids |= {str(line["customer"]) for line in invoice.get("lines", ()) if line.get("customer")}
    found = customers.get_many(tenant, ids)
    bill_to = found.get(str(invoice.get("customer")))
    children = {c.id: c.name or c.id for c in found.values() if c is not bill_to}
    parties = invoice.get("parties")
    if not isinstance(parties, Mapping) and bill_to is not None:
        seller = settings.seller(tenant) if settings is not None else Seller()
        parties = snapshot(seller, tenants.name(tenant), bill_to.billing, bill_to)
    seller_doc = parties.get("seller") if isinstance(parties, Mapping) else None
    buyer_doc = parties.get("buyer") if isinstance(parties, Mapping) else None
    return invoice_view(
        invoice,
        issuer=_seller(seller_doc) if seller_doc else Party(tenants.name(tenant)),
        customer=_buyer(buyer_doc) if buyer_doc else (_party(bill_to) if bill_to else None),
        children=children,
        timezone=bill_to.timezone if bill_to else None,
        locale=locale,
        footer=str(seller_doc.get("footer") or "") if seller_doc else "",
        notes=tuple(notes),
        logo=settings.logo(tenant, seller_doc.get("logo")) if settings and seller_doc else None,
        logo_url=str(seller_doc.get("logo_url") or "") if seller_doc else "",
    )


def _address(data: Any) -> tuple[str, ...]:
    try:
        address = Address.from_dict(data) if isinstance(data, Mapping) else None
    except TallybookError:
        return ()
    return () if address is None else address.lines()


def _seller(doc: Mapping[str, Any]) -> Party:
    detail = list(_address(doc.get("address")))
    if doc.get("tax_id"):
        detail.append(f"Tax ID: {doc['tax_id']}")
    if doc.get("email"):
        detail.append(str(doc["email"]))
    return Party(str(doc.get("legal_name") or ""), tuple(detail))


def _buyer(doc: Mapping[str, Any]) -> Party:
    name = str(doc.get("legal_name") or doc.get("name") or doc.get("customer") or "")
    detail = [str(doc["customer"])] if doc.get("customer") and doc.get("customer") != name else []
    detail += _address(doc.get("address"))
    if doc.get("tax_id"):
        detail.append(f"Tax ID: {doc['tax_id']}")
    emails = doc.get("billing_emails") or ([doc["email"]] if doc.get("email") else [])
    detail += [str(e) for e in emails]
    return Party(name, tuple(detail))


def _party(customer: Customer) -> Party:
    detail = [customer.id] if customer.name else []
    if customer.email:
        detail.append(customer.email)
    return Party(customer.name or customer.id, tuple(detail))
