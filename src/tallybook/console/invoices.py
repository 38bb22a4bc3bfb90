"""Invoices: search by number, customer, status and period month (in SQL, paginated),
one invoice with its lines and document links, and void / mark paid after confirmation
(``InvoiceService.void`` / ``pay``, as ``POST /v1/invoices/{id}/void`` and ``/pay``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, lists, nav, web
from tallybook.documents import formats
from tallybook.domain.analytics.months import Month
from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.services.pagination import Page

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("invoices", "Invoices", "/console/invoices"))
LOCALE = formats.DEFAULT_LOCALE
MAX_CSV_ROWS = 100_000
Text = Annotated[str | None, Query(max_length=200)]
ACTIONS = {"void": "Void", "pay": "Mark paid"}


def _status(text: str | None) -> InvoiceStatus | None:
    if not text:
        return None
    try:
        return InvoiceStatus(text)
    except ValueError:
        raise ValidationError(
            f"status must be one of {', '.join(s.value for s in InvoiceStatus)}",
            code="invalid_status",
        ) from None


def search(
    container: Container,
    tenant: str,
    filters: dict[str, str | None],
    *,
    limit: int,
    cursor: str | None,
) -> Page[Invoice]:
    """A page of invoices by ``number``, ``customer``, ``status`` and ``period`` (a month
    ``YYYY-MM``: invoices whose period starts in it). ValidationError on bad filters."""
    period = filters.get("period")
    start = end = None
    if period:
        month = Month.parse(period, field="period")
        start, end = month.start, month.next().start
    return container.invoices.list(
        tenant,
        customer=filters.get("customer") or None,
        status=_status(filters.get("status")),
        number=filters.get("number") or None,
        period_start_from=start,
        period_start_to=end,
        limit=limit,
        cursor=cursor,
    )


def _row(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.display_number or "draft",
        "customer": invoice.customer,
        "status": invoice.status.value,
        "period": f"{invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}",
        "total": formats.money(invoice.totals.total, invoice.currency, LOCALE),
    }


def _filters(
    number: Text = None,
    customer: Text = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
) -> dict[str, str | None]:
    """The list's filters, as the page and its CSV take them (see ``search``)."""
    return {"number": number, "customer": customer, "status": status, "period": period}


Filters = Annotated[dict[str, str | None], Depends(_filters)]


@router.get("/invoices")
def invoices(
    request: Request,
    container: ContainerDep,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()

    def read(limit: int, after: str | None) -> Page[Invoice]:
        return search(container, who.tenant_id, filters, limit=limit, cursor=after)

    return lists.list_page(
        request, container, who, template="invoices.html", path="/console/invoices",
        active="invoices", filters=filters, cursor=cursor, read=read, row=_row,
        statuses=[s.value for s in InvoiceStatus],
    )  # fmt: skip


@router.get("/invoices.csv")
def invoices_csv(request: Request, container: ContainerDep, filters: Filters) -> Response:
    """The invoices matching the filters (up to ``MAX_CSV_ROWS``), read page by page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()

    def read(limit: int, cursor: str | None) -> Page[Invoice]:
        return search(container, who.tenant_id, filters, limit=limit, cursor=cursor)

    def row(i: Invoice) -> list[Any]:
        return [
            i.id, i.display_number or "", i.customer, i.status.value, i.currency,
            i.period_start.isoformat(), i.period_end.isoformat(), i.totals.total,
        ]  # fmt: skip

    rows = lists.csv_rows(read, row, max_rows=MAX_CSV_ROWS)  # bad filters: 4xx now
    header = ["id", "number", "customer", "status", "currency", "period_start", "period_end"]
    return web.csv_response("invoices.csv", [*header, "total"], rows)


def _invoice_page(
    request: Request, container: Container, who: web.Operator, reference: str, **extra: Any
) -> Response:
    try:
        invoice = container.invoices.get(who.tenant_id, reference)
    except TallybookError as error:
        return web.render(
            "message.html",
            request=request,
            container=container,
            who=who,
            status=status_for(error),
            title="Invoice not shown",
            message=error.message,
            back="/console/invoices",
        )

    def money(value: object) -> str:
        return formats.money(value, invoice.currency, LOCALE)

    return web.render(
        "invoice.html",
        request=request,
        container=container,
        who=who,
        active="invoices",
        invoice=invoice,
        row=_row(invoice),
        money=money,
        **extra,
    )


@router.get("/invoices/{reference}")
def invoice(
    reference: str,
    request: Request,
    container: ContainerDep,
    done: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return _invoice_page(request, container, who, reference, done=ACTIONS.get(done or ""))


@router.post("/invoices/{reference}/{action}")
async def act(reference: str, action: str, request: Request, container: ContainerDep) -> Response:
    """``void`` or ``pay``: the first POST asks for confirmation, ``confirm=yes`` acts."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    if action not in ACTIONS:
        return web.render(
            "message.html",
            request=request,
            container=container,
            who=who,
            status=404,
            title="Unknown action",
            message=f"No invoice action {action[:20]!r}.",
        )
    try:
        found = container.invoices.get(who.tenant_id, reference)
        if fields.get("confirm") != "yes":
            return web.render(
                "invoice_confirm.html",
                request=request,
                container=container,
                who=who,
                active="invoices",
                row=_row(found),
                action=action,
                label=ACTIONS[action],
            )
        if action == "void":
            container.invoices.void(who.tenant_id, found.id)
        else:
            container.invoices.pay(who.tenant_id, found.id)
    except TallybookError as error:
        return _invoice_page(
            request, container, who, reference, error=error.message, status=status_for(error)
        )
    auditing.action(container, who, f"console invoices {action}", f"invoices/{found.id}")
    return RedirectResponse(web.link(f"/console/invoices/{found.id}", done=action), 303)
