"""``GET /v1/invoices/{id}.html`` and ``.pdf``: the invoice as a printable page and a PDF.

Both render the contract's invoice JSON (``documents.invoice_json``) through
``documents.invoice_document``. Authentication: the bearer API key, or the portal's login
cookie (so the portal can link to them). Another tenant's invoice is
``404 invoice_not_found``. ``?locale=fr_FR`` picks how money and dates are written
(default ``en_US``). This router is listed before ``routes.invoices`` so that
``/v1/invoices/{reference}`` does not take ``inv_1.html`` for a reference.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from tallybook.api.auth import bearer_key, cookie_key, tenant_of
from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.documents import formats
from tallybook.documents.invoice_document import document_view
from tallybook.documents.invoice_html import invoice_page_csp, render_invoice_html
from tallybook.documents.invoice_json import invoice_json
from tallybook.documents.invoice_pdf import render_invoice_pdf
from tallybook.documents.invoice_view import InvoiceView
from tallybook.documents.links import customer_url
from tallybook.domain.errors import NotFound

router = APIRouter(tags=["invoices"])
LocaleQuery = Annotated[str | None, Query(max_length=35, description="e.g. en_US, fr_FR")]


def _load(
    request: Request, container: Container, reference: str, locale: str | None
) -> tuple[InvoiceView, str]:
    tenant = tenant_of(request, container)
    chosen = formats.check_locale(locale)
    if not reference.isprintable():  # no invoice has such an id (and NUL breaks SQL)
        raise NotFound(
            f"no invoice {reference!r}", code="invoice_not_found", details={"invoice": reference}
        )
    found = container.invoices.get(tenant, reference)
    invoice = invoice_json(found, container.credit_notes.of_invoices(tenant, [found.id]))
    view = document_view(
        container.customers,
        container.tenants,
        tenant,
        invoice,
        chosen,
        settings=container.invoice_settings,
    )
    return view, chosen


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
