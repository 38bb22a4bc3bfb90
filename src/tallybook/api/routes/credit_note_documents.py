"""``GET /v1/credit-notes/{id}.html`` and ``.pdf``: a credit note as a document of its own.

Rendered from the note, its invoice and the invoice's parties snapshot
(``documents.credit_note_document``), like the invoice documents
(``routes.invoice_documents``): the bearer API key or the portal's login cookie;
``?locale=`` picks how money and dates are written (default ``en_US``); another tenant's
or an unknown note is ``404 credit_note_not_found``. Listed before
``routes.credit_notes`` so ``/v1/credit-notes/{note_id}`` does not take ``cn_1.pdf``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from tallybook.api.auth import bearer_key, cookie_key, tenant_of
from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.documents import formats
from tallybook.documents.credit_note_document import CreditNoteView, load_credit_note_view
from tallybook.documents.credit_note_pdf import render_credit_note_pdf
from tallybook.documents.invoice_html import invoice_page_csp, render_credit_note_html
from tallybook.documents.links import customer_url
from tallybook.domain.errors import NotFound

router = APIRouter(tags=["invoices"])
LocaleQuery = Annotated[str | None, Query(max_length=35, description="e.g. en_US, de_DE")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "credit_note_not_found"}}


def _load(
    request: Request, container: Container, note_id: str, locale: str | None
) -> tuple[CreditNoteView, str, str]:
    tenant = tenant_of(request, container)
    chosen = formats.check_locale(locale)
    if not note_id.isprintable() or len(note_id) > 255:  # no note has such an id
        raise NotFound(
            f"no credit note {note_id[:255]!r}",
            code="credit_note_not_found",
            details={"credit_note": note_id[:255]},
        )
    view = load_credit_note_view(
        container.invoices,
        container.credit_notes,
        container.customers,
        container.tenants,
        container.invoice_settings,
        tenant,
        note_id,
        chosen,
    )
    return view, chosen, view.customer_id


@router.get(
    "/v1/credit-notes/{note_id}.html",
    summary="A credit note as a printable HTML page",
    response_class=HTMLResponse,
    responses=NOT_FOUND,
)
def credit_note_html(
    note_id: str, request: Request, container: ContainerDep, locale: LocaleQuery = None
) -> HTMLResponse:
    view, chosen, customer = _load(request, container, note_id, locale)
    pdf_url = f"/v1/credit-notes/{quote(note_id, safe='')}.pdf" + (
        f"?locale={chosen}" if locale else ""
    )
    back_url = None
    if bearer_key(request) is None and cookie_key(request) is not None:
        back_url = customer_url(customer)
    page = render_credit_note_html(
        view, lang=chosen.split("_")[0], back_url=back_url, pdf_url=pdf_url
    )
    headers = {"Cache-Control": "private, no-store", "Content-Security-Policy": invoice_page_csp()}
    return HTMLResponse(page, headers=headers)


@router.get(
    "/v1/credit-notes/{note_id}.pdf",
    summary="A credit note as a PDF (A4)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **NOT_FOUND},
)
def credit_note_pdf(
    note_id: str, request: Request, container: ContainerDep, locale: LocaleQuery = None
) -> Response:
    view, chosen, _customer = _load(request, container, note_id, locale)
    filename = view.number.replace('"', "").replace("/", "-")
    return Response(
        render_credit_note_pdf(view, locale=chosen),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
