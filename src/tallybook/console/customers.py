"""Customers: search by id, name or email (in SQL, paginated), one customer's page (with
its alert rules and fired alerts, entitlements and spend limit), and the "grant credits"
action (confirm, then POST with CSRF, through ``CreditService``); the spend limit and plan
change actions are in ``console.customer_actions``.

Search: text containing ``@`` is an exact, case-insensitive email; anything else is a
case-insensitive substring of the id or the name (``CustomerService.list``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, lists, nav, web
from tallybook.documents import formats
from tallybook.domain.errors import TallybookError
from tallybook.domain.money import to_decimal
from tallybook.domain.subscriptions.model import AllowancePolicy, Customer, FeeProration
from tallybook.portal.pages import summary
from tallybook.services.credits import GrantRequest
from tallybook.services.pagination import Page
from tallybook.services.shared_reads import shared_reads

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("customers", "Customers", "/console/customers"))
LOCALE = formats.DEFAULT_LOCALE
MAX_CSV_ROWS = 10_000
CATEGORIES = ("promotional", "paid")
Search = Annotated[str | None, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=500)]


def search(
    container: Container, tenant: str, q: str | None, *, limit: int, cursor: str | None
) -> Page[Customer]:
    """One page of customers matching ``q`` (see the module docstring)."""
    text = (q or "").strip() or None
    if text is not None and "@" in text:
        return container.customers.list(tenant, limit=limit, cursor=cursor, email=text)
    return container.customers.list(tenant, limit=limit, cursor=cursor, query=text)


@router.get("/customers")
def customers(
    request: Request, container: ContainerDep, q: Search = None, cursor: Cursor = None
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()

    def read(limit: int, after: str | None) -> Page[Customer]:
        return search(container, who.tenant_id, q, limit=limit, cursor=after)

    return lists.list_page(
        request, container, who, template="customers.html", path="/console/customers",
        active="customers", filters={"q": q}, cursor=cursor, read=read, error_status=400, q=q or "",
    )  # fmt: skip


@router.get("/customers.csv")
def customers_csv(request: Request, container: ContainerDep, q: Search = None) -> Response:
    """Every customer matching ``q`` (up to ``MAX_CSV_ROWS``), read page by page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()

    def read(limit: int, cursor: str | None) -> Page[Customer]:
        return search(container, who.tenant_id, q, limit=limit, cursor=cursor)

    def row(c: Customer) -> list[Any]:
        return [c.id, c.name, c.email, c.currency, c.timezone]

    rows = lists.csv_rows(read, row, max_rows=MAX_CSV_ROWS)
    return web.csv_response("customers.csv", ["id", "name", "email", "currency", "timezone"], rows)


def customer_view(container: Container, tenant: str, customer_id: str) -> dict[str, Any]:
    """Everything the customer page shows; NotFound ``customer_not_found``. The panels'
    services share one read of the customer and its subscriptions and one rating of
    the period (``services.shared_reads``)."""
    with shared_reads():
        return _customer_view(container, tenant, customer_id)


def _customer_view(container: Container, tenant: str, customer_id: str) -> dict[str, Any]:
    customer = container.customers.get(tenant, customer_id)
    previews = container.previews
    usage = previews.current_usage(tenant, customer.id)
    subs = container.subscriptions.of_account(tenant, customer.id)
    commitments = []
    for stored in subs:
        try:
            status = container.commitments.status(tenant, stored.subscription.id)
        except TallybookError:
            continue
        commitments.append((stored.subscription.id, status))
    credits = container.credits.summary(tenant, customer.id)
    try:
        entitlements = container.entitlements.all(tenant, customer.id)
    except TallybookError:
        entitlements = []
    fired = container.alerts.fired(tenant, customer.id, limit=web.PAGE_SIZE, cursor=None)
    ledger = container.credits.ledger(tenant, customer.id, after=0, limit=50)
    invoices = container.invoices.list(tenant, customer=customer.id, limit=web.PAGE_SIZE)
    upcoming = None
    try:
        upcoming = previews.upcoming_invoice(tenant, customer.id)
    except TallybookError:
        upcoming = None

    def money(value: object) -> str:
        return formats.money(value, customer.currency, LOCALE)

    return {
        "customer": customer,
        "usage": summary(usage, LOCALE),
        "alert_rules": container.alerts.applicable(tenant, usage),
        "fired": fired.items,
        "more_fired": fired.next_cursor is not None,
        "entitlements": entitlements,
        "spend": container.spend_limits.status(tenant, customer.id),
        "plans": container.catalog.list_plans(tenant),
        "now": container.clock.now(),
        "subscriptions": subs,
        "commitments": commitments,
        "credits": credits,
        "ledger": [entry for _, entry in ledger],
        "invoices": invoices.items,
        "more_invoices": invoices.next_cursor is not None,
        "upcoming": upcoming,
        "money": money,
        "categories": CATEGORIES,
        "allowance_policies": [p.value for p in AllowancePolicy],
        "fee_prorations": [p.value for p in FeeProration],
        "nonce": secrets.token_hex(12),
    }


def customer_page(
    request: Request, container: Container, who: web.Operator, customer_id: str, **extra: Any
) -> Response:
    """The customer page (``customer_view``) with ``extra`` in the template context (an
    ``error`` and its ``status``, notices); a message page with the error's status when
    the customer cannot be shown."""
    try:
        view = customer_view(container, who.tenant_id, customer_id)
    except TallybookError as error:
        return web.render(
            "message.html",
            request=request,
            container=container,
            who=who,
            status=error_status(error),
            title="Customer not shown",
            message=error.message,
            back="/console/customers",
        )
    return web.render(
        "customer.html",
        request=request,
        container=container,
        who=who,
        active="customers",
        **view,
        **extra,
    )


def error_status(error: TallybookError) -> int:
    """The HTTP status of a domain error (the API's mapping, ``api.errors``)."""
    return status_for(error)


@router.get("/customers/{customer_id:path}")
def customer(
    customer_id: str,
    request: Request,
    container: ContainerDep,
    granted: Annotated[int | None, Query(ge=1, le=1)] = None,
    spend: Annotated[Literal["set", "removed"] | None, Query()] = None,
    changed: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return customer_page(
        request, container, who, customer_id, granted=granted, spend_done=spend, changed=changed
    )


@router.post("/customers/{customer_id:path}/grant")
async def grant(customer_id: str, request: Request, container: ContainerDep) -> Response:
    """Grant credits: the first POST shows a confirmation, the second (``confirm=yes``)
    creates the grant (its id derived from the form's one-time ``nonce``, so a double
    submit creates one grant) and redirects to the customer page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    try:
        customer = container.customers.get(who.tenant_id, customer_id)
        amount = to_decimal(fields.get("amount", ""), field="amount")
        category = fields.get("category", "promotional")
        description = (fields.get("description") or "").strip()[:200] or None
        nonce = (fields.get("nonce") or "").strip()
        if fields.get("confirm") != "yes":
            return web.render(
                "grant_confirm.html",
                request=request,
                container=container,
                who=who,
                active="customers",
                customer=customer,
                amount=str(amount),
                shown=formats.money(amount, customer.currency, LOCALE),
                category=category,
                description=description or "",
                nonce=nonce,
            )
        request_body = GrantRequest(
            id=f"console-{nonce}" if nonce.isalnum() and len(nonce) <= 64 else None,
            amount=amount,
            currency=customer.currency,
            category=category,
            description=description,
        )
        grant, created = container.credits.create_grant(
            who.tenant_id, customer.id, request_body, source="api"
        )
    except TallybookError as error:
        return customer_page(
            request, container, who, customer_id, error=error.message, status=error_status(error)
        )
    if created:  # a double submit returns the first grant: recorded once
        after = {"customer": customer.id, "amount": str(amount), "category": category}
        auditing.action(
            container, who, "console credit-grants create", f"credit-grants/{grant.id}", after
        )
    return RedirectResponse(
        web.link(f"/console/customers/{customer.id}", granted="1"), status_code=303
    )
