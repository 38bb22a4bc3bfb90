"""The customer portal at ``/portal``: log in with an API key, customers, one customer.

Pages are server-rendered (Jinja2) with one local stylesheet; daily charts are drawn by
Chart.js (served by the console's asset route from ``node_modules``) from JSON data islands,
with the numbers also in a table. No inline script and no network asset, under ``PAGE_CSP``
(``api.security_headers``). Every page
reads through the same services as the API, scoped to the tenant of the login session
(``api.auth``, ``services.portal_sessions``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tallybook.api.access import may_view
from tallybook.api.auth import (
    clear_login,
    cookie_key,
    cross_site,
    page_csrf,
    portal_tenant,
    set_login,
)
from tallybook.api.deps import ContainerDep, PreviewsDep
from tallybook.api.security_headers import PAGE_CSP
from tallybook.bootstrap import Container
from tallybook.documents import formats
from tallybook.documents.invoice_document import document_view
from tallybook.documents.invoice_html import invoice_page_csp, render_invoice_html
from tallybook.documents.invoice_json import draft_json
from tallybook.documents.links import customer_url
from tallybook.documents.templating import environment, static_text
from tallybook.domain.errors import NotFound, Unauthorized
from tallybook.portal import pages
from tallybook.services.billing.previews import PreviewService
from tallybook.services.portal_sessions import csrf_ok

router = APIRouter(prefix="/portal", include_in_schema=False)
PAGE_SIZE = 25
PORTAL = "tallybook.portal"
LOCALE = formats.DEFAULT_LOCALE
STATIC = {
    "portal.css": "text/css; charset=utf-8",
    "portal.js": "text/javascript; charset=utf-8",
}
NO_STORE = {"Cache-Control": "no-store"}
PAGE_HEADERS = {**NO_STORE, "Content-Security-Policy": PAGE_CSP}


def _render(
    template: str, status: int = 200, *, request: Request | None = None, **context: Any
) -> HTMLResponse:
    """Render a page; with ``request`` (a logged-in page) its forms get the CSRF token."""
    csrf = page_csrf(request) if request is not None else ""
    html = environment(PORTAL).get_template(template).render(csrf=csrf, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/portal/login", status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}", code="not_found")
    return Response(
        static_text(name, PORTAL),
        media_type=STATIC[name],
        headers={"Cache-Control": "max-age=3600"},
    )


@router.get("/login")
def login_page(request: Request, container: ContainerDep) -> Response:
    if portal_tenant(request, container) is not None:
        return RedirectResponse("/portal", status_code=303)
    return _render("login.html")


@router.post("/login")
async def login(request: Request, container: ContainerDep) -> Response:
    if cross_site(request):
        return _render("login.html", status=403, error="Log in from this site's own page.")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("api_key") or [""])[0].strip()
    sessions = container.portal_sessions
    try:
        if not may_view(container.tenants.identify(key).roles):
            error = "That key may not view the portal (ingestion-only keys cannot)."
            return _render("login.html", status=403, error=error)
        token = sessions.start(key)
    except Unauthorized:
        return _render("login.html", status=401, error="That API key is not valid.")
    response = RedirectResponse("/portal", status_code=303)
    set_login(response, request, token, int(sessions.ttl.total_seconds()))
    return response


@router.post("/logout")
async def logout(request: Request, container: ContainerDep) -> Response:
    """End the session: revoked in the store, cookie cleared. Needs the page's CSRF token."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = cookie_key(request)
    if cross_site(request) or not csrf_ok(token, (form.get("csrf") or [""])[0]):
        return RedirectResponse("/portal", status_code=303)
    container.portal_sessions.end(token)
    response = _to_login()
    clear_login(response, request)
    return response


@router.get("")
def dashboard(
    request: Request,
    container: ContainerDep,
    previews: PreviewsDep,
    after: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    tenant = portal_tenant(request, container)
    if tenant is None:
        return _to_login()
    now = container.clock.now()
    customers = previews.customers(tenant, limit=PAGE_SIZE + 1, starting_after=after)
    rows = []
    for customer in customers[:PAGE_SIZE]:
        usage = previews.current_usage(tenant, customer.id, now)
        url = customer_url(customer.id)
        rows.append(
            pages.CustomerRow(
                customer.id, customer.name or customer.id, url, pages.summary(usage, LOCALE)
            )
        )
    levels = [row.summary.worst for row in rows]
    next_url = None
    if len(customers) > PAGE_SIZE:
        next_url = f"/portal?after={quote(customers[PAGE_SIZE - 1].id, safe='')}"
    return _render(
        "dashboard.html",
        request=request,
        tenant_name=container.tenants.name(tenant),
        active="customers",
        rows=rows,
        as_of=formats.moment(now, "UTC", LOCALE) + " UTC",
        near=levels.count("warn"),
        over=levels.count("over"),
        next_url=next_url,
    )


@router.get("/customers/{customer_id:path}/upcoming")
def upcoming(
    customer_id: str, request: Request, container: ContainerDep, previews: PreviewsDep
) -> Response:
    tenant = portal_tenant(request, container)
    if tenant is None:
        return _to_login()
    try:
        preview = previews.upcoming_invoice(tenant, customer_id)
    except NotFound as exc:
        return _not_found(request, container, tenant, exc)
    view = document_view(
        container.customers,
        container.tenants,
        tenant,
        draft_json(preview.draft),
        LOCALE,
        settings=container.invoice_settings,
    )
    back = customer_url(customer_id)
    html = render_invoice_html(view, back_url=back, pdf_url=None)
    return HTMLResponse(html, headers={**NO_STORE, "Content-Security-Policy": invoice_page_csp()})


@router.get("/customers/{customer_id:path}")
def customer_page(
    customer_id: str, request: Request, container: ContainerDep, previews: PreviewsDep
) -> Response:
    tenant = portal_tenant(request, container)
    if tenant is None:
        return _to_login()
    try:
        context = _customer_context(container, previews, tenant, customer_id)
    except NotFound as exc:
        return _not_found(request, container, tenant, exc)
    return _render("customer.html", request=request, **context)


def _not_found(request: Request, container: Container, tenant: str, exc: NotFound) -> HTMLResponse:
    return _render(
        "error.html",
        request=request,
        status=404,
        tenant_name=container.tenants.name(tenant),
        title="Not found",
        message=exc.message,
    )


def _customer_context(
    container: Container, previews: PreviewService, tenant: str, customer_id: str
) -> dict[str, Any]:
    usage = previews.current_usage(tenant, customer_id, container.clock.now())
    customer = usage.customer
    days = previews.daily_usage(tenant, usage)
    invoices = container.invoices.list(tenant, customer=customer.account, limit=100)
    return {
        "tenant_name": container.tenants.name(tenant),
        "active": "customers",
        "customer": customer,
        "name": customer.name or customer.id,
        "parent_url": customer_url(customer.parent) if customer.parent else None,
        "summary": pages.summary(usage, LOCALE),
        "upcoming_url": customer_url(customer.id) + "/upcoming",
        "charts": pages.charts(days, customer.timezone, LOCALE),
        "invoices": pages.invoice_rows(
            list(reversed(invoices.items)),
            customer.timezone,
            LOCALE,
            container.credit_notes.of_invoices(tenant, [i.id for i in invoices.items]),
        ),
        "credits": pages.credits(container.credits.summary(tenant, customer.account), LOCALE),
    }
