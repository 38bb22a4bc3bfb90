"""``GET /v1/invoices/{id}.html`` and ``.pdf``: the invoice as a printable page and a PDF.

Both render the contract's invoice JSON (``routes.invoices.invoice_json``) through
``portal.invoice_view``. Authentication: the bearer API key, or the portal's login
cookie (so the portal can link to them). Another tenant's invoice is
``404 invoice_not_found``. ``?locale=fr_FR`` picks how money and dates are written
(default ``en_US``). This router is listed before ``routes.invoices`` so that
``/v1/invoices/{reference}`` does not take ``inv_1.html`` for a reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.routes.invoices import invoice_json
from tallybook.bootstrap import Container
from tallybook.domain.errors import NotFound
from tallybook.domain.subscriptions import Customer
from tallybook.portal import formats
from tallybook.portal.auth import bearer_key, cookie_key, tenant_of
from tallybook.portal.invoice_html import invoice_page_csp, render_invoice_html
from tallybook.portal.invoice_pdf import render_invoice_pdf
from tallybook.portal.invoice_view import InvoiceView, Party, invoice_view
from tallybook.portal.pages import customer_url

router = APIRouter(tags=["invoices"])
LocaleQuery = Annotated[str | None, Query(max_length=35, description="e.g. en_US, fr_FR")]


def document_view(
    container: Container, tenant: str, invoice: Mapping[str, Any], locale: str
) -> InvoiceView:
    """The view of one invoice of ``tenant`` (contract JSON), with names filled in."""
    ids = {str(invoice.get("customer"))}
    ids |= {str(line["customer"]) for line in invoice.get("lines", ()) if line.get("customer")}
    customers = container.customers.get_many(tenant, ids)
    bill_to = customers.get(str(invoice.get("customer")))
    children = {c.id: c.name or c.id for c in customers.values() if c is not bill_to}
    return invoice_view(
        invoice,
        issuer=Party(tenant_name(container, tenant)),
        customer=_party(bill_to) if bill_to else None,
        children=children,
        timezone=bill_to.timezone if bill_to else None,
        locale=locale,
    )


def tenant_name(container: Container, tenant: str) -> str:
    return container.tenants.name(tenant)


def _party(customer: Customer) -> Party:
    detail = [customer.id] if customer.name else []
    if customer.email:
        detail.append(customer.email)
    return Party(customer.name or customer.id, tuple(detail))


def _load(
    request: Request, container: Container, reference: str, locale: str | None
) -> tuple[InvoiceView, str]:
    tenant = tenant_of(request, container)
    chosen = formats.check_locale(locale)
    if not reference.isprintable():  # no invoice has such an id (and NUL breaks SQL)
        raise NotFound(
            f"no invoice {reference!r}", code="invoice_not_found", details={"invoice": reference}
        )
    invoice = invoice_json(container.invoices.get(tenant, reference))
    return document_view(container, tenant, invoice, chosen), chosen


def _back_url(request: Request, view: InvoiceView, customer: str) -> str | None:
    """Back to the customer's portal page when the reader came through the portal."""
    if bearer_key(request) is None and cookie_key(request) is not None:
        return customer_url(customer)
    return None


@router.get(
    "/v1/invoices/{reference}.html",
    summary="An invoice as a printable HTML page",
    response_class=HTMLResponse,
    responses={404: {"description": "invoice_not_found"}},
)
def invoice_html(
    reference: str, request: Request, container: ContainerDep, locale: LocaleQuery = None
) -> HTMLResponse:
    view, chosen = _load(request, container, reference, locale)
    pdf_url = f"/v1/invoices/{quote(reference, safe='')}.pdf" + (
        f"?locale={chosen}" if locale else ""
    )
    back_url = _back_url(request, view, view.customer_id)
    page = render_invoice_html(view, lang=chosen.split("_")[0], back_url=back_url, pdf_url=pdf_url)
    headers = {"Cache-Control": "private, no-store", "Content-Security-Policy": invoice_page_csp()}
    return HTMLResponse(page, headers=headers)


@router.get(
    "/v1/invoices/{reference}.pdf",
    summary="An invoice as a PDF (A4)",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        404: {"description": "invoice_not_found"},
    },
)
def invoice_pdf(
    reference: str, request: Request, container: ContainerDep, locale: LocaleQuery = None
) -> Response:
    view, chosen = _load(request, container, reference, locale)
    filename = (view.number or reference).replace('"', "")
    return Response(
        render_invoice_pdf(view, locale=chosen),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
