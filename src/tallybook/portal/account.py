"""The customer portal (issue 10): what one customer sees after opening a portal link.

``GET /portal/enter?token=tbl_...`` consumes a single-use link
(``POST /v1/customers/{id}/portal-sessions``) and opens a customer session: its random
token goes into the ``tallybook_account`` cookie (``HttpOnly``, ``SameSite=Strict``,
``Path=/portal/account``), the browser is redirected to ``/portal/account`` (so the link
leaves the address bar) and the answer carries ``Referrer-Policy: no-referrer``. Every
account page reads the session's tenant and customer from the store and shows only that
customer: live usage against allowance, the upcoming and projected invoice, credits,
entitlements, the spend limit (settable here, with the session's anti-CSRF token),
alerts fired and invoices (as documents checked to be the customer's own).

Operator pages (``portal.routes``) never accept a customer session, and account pages
never accept an operator session: the two cookies and store queries are distinct.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tallybook.api.auth import clear_login, cross_site, set_login
from tallybook.api.deps import ContainerDep
from tallybook.api.security_headers import PAGE_CSP
from tallybook.bootstrap import Container
from tallybook.documents import formats
from tallybook.documents.invoice_document import document_view
from tallybook.documents.invoice_html import invoice_page_csp, render_invoice_html
from tallybook.documents.invoice_json import draft_json, invoice_json
from tallybook.documents.templating import environment
from tallybook.domain.errors import NotFound, TallybookError
from tallybook.domain.money import to_decimal
from tallybook.portal import account_view
from tallybook.services.portal_sessions import csrf_ok, csrf_token

router = APIRouter(prefix="/portal", include_in_schema=False)
COOKIE = "tallybook_account"
COOKIE_PATH = "/portal/account"
HOME = "/portal/account"
PORTAL = "tallybook.portal"
LOCALE = formats.DEFAULT_LOCALE
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}
MAX_FORM_BYTES = 4096


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment(PORTAL).get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _gone(status: int = 403) -> HTMLResponse:
    return _page(
        "account_gone.html",
        status=status,
        title="This link cannot be used",
        message="Portal links work once and expire. Ask your provider for a new one.",
    )


def _session(request: Request, container: Container) -> tuple[str, str] | None:
    return container.customer_portal.customer(request.cookies.get(COOKIE))


@router.get("/enter")
def enter(
    request: Request,
    container: ContainerDep,
    token: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Consume a portal link and open the customer's session (the token is never logged)."""
    session = container.customer_portal.open(token)
    if session is None:
        response: Response = _gone()
    else:
        response = RedirectResponse(HOME, status_code=303)
        set_login(
            response,
            request,
            session,
            int(container.customer_portal.session_ttl.total_seconds()),
            cookie=COOKIE,
            path=COOKIE_PATH,
        )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/account")
def account(
    request: Request,
    container: ContainerDep,
    saved: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    who = _session(request, container)
    if who is None:
        return _gone(401)
    tenant, customer_id = who
    return _account_page(request, container, tenant, customer_id, notice=saved)


def _account_page(
    request: Request,
    container: Container,
    tenant: str,
    customer_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    context = account_view.context(container, tenant, customer_id, LOCALE)
    return _page(
        "account.html",
        status=status,
        csrf=csrf_token(request.cookies.get(COOKIE) or ""),
        notice={"limit": "Spend limit saved.", "removed": "Spend limit removed."}.get(notice or ""),
        error=error,
        **context,
    )


@router.post("/account/spend-limit")
async def set_spend_limit(request: Request, container: ContainerDep) -> Response:
    """The customer sets (or removes) its own spend limit; needs the page's CSRF token."""
    who = _session(request, container)
    if who is None:
        return _gone(401)
    tenant, customer_id = who
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    token = request.cookies.get(COOKIE)
    if cross_site(request) or not csrf_ok(token, (form.get("csrf") or [""])[0]):
        return _page(
            "account_gone.html",
            status=403,
            title="Not saved",
            message="This form was not sent from your portal page. Open the page and try again.",
        )
    action = (form.get("action") or ["save"])[0]
    try:
        if action == "remove":
            container.spend_limits.delete(tenant, customer_id)
            return RedirectResponse(f"{HOME}?saved=removed", status_code=303)
        amount = _amount((form.get("amount") or [""])[0])
        mode = (form.get("mode") or ["soft"])[0][:8]
        container.spend_limits.set(tenant, customer_id, amount, mode)
    except TallybookError as exc:
        return _account_page(request, container, tenant, customer_id, status=422, error=exc.message)
    return RedirectResponse(f"{HOME}?saved=limit", status_code=303)


def _amount(text: str) -> Decimal:
    return to_decimal(text.strip().replace(",", "")[:40], field="amount")


@router.post("/account/logout")
async def account_logout(request: Request, container: ContainerDep) -> Response:
    """End the customer session (revoked in the store, cookie cleared); needs the CSRF token."""
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    token = request.cookies.get(COOKIE)
    if cross_site(request) or not csrf_ok(token, (form.get("csrf") or [""])[0]):
        return RedirectResponse(HOME, status_code=303)
    container.portal_sessions.end(token)
    response = _page(
        "account_gone.html",
        title="Signed out",
        message="You are signed out. Use a new portal link to come back.",
    )
    clear_login(response, request, cookie=COOKIE, path=COOKIE_PATH)
    return response


@router.get("/account/invoices/{invoice_id}")
def account_invoice(invoice_id: str, request: Request, container: ContainerDep) -> Response:
    """One of the customer's invoices as a page; another customer's is 404."""
    who = _session(request, container)
    if who is None:
        return _gone(401)
    tenant, customer_id = who
    try:
        customer = container.previews.customer(tenant, customer_id)
        if not invoice_id.isprintable():
            raise NotFound("no such invoice", code="invoice_not_found")
        invoice = container.invoices.get(tenant, invoice_id)
    except NotFound:
        return _not_found()
    if invoice.customer != customer.account or invoice.id != invoice_id:
        return _not_found()
    view = document_view(
        container.customers, container.tenants, tenant, invoice_json(invoice), LOCALE
    )
    html = render_invoice_html(view, back_url=HOME, pdf_url=None)
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "Content-Security-Policy": invoice_page_csp()}
    )


@router.get("/account/upcoming")
def account_upcoming(request: Request, container: ContainerDep) -> Response:
    """The customer's upcoming invoice as a document (never stored)."""
    who = _session(request, container)
    if who is None:
        return _gone(401)
    tenant, customer_id = who
    try:
        preview = container.previews.upcoming_invoice(tenant, customer_id)
    except NotFound:
        return _not_found()
    view = document_view(
        container.customers, container.tenants, tenant, draft_json(preview.draft), LOCALE
    )
    html = render_invoice_html(view, back_url=HOME, pdf_url=None)
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "Content-Security-Policy": invoice_page_csp()}
    )


def _not_found() -> HTMLResponse:
    return _page(
        "account_gone.html",
        status=404,
        title="Not found",
        message="There is no such invoice in your account.",
        back=HOME,
    )
