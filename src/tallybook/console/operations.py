"""Operations: webhook endpoints and messages (retry a failed one), dead-lettered events
(replay one as received), and the Stripe reconciliation state (drift of the newest run).

Secrets are never shown (an endpoint's signing secrets stay in the store). Every action
is a POST with the session's CSRF token through the services (``WebhookService.retry``,
``DeadLetterService.replay``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, nav, web
from tallybook.console.overview import drift_view
from tallybook.domain.errors import NotFound, TallybookError

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("operations", "Operations", "/console/operations"))
Cursor = Annotated[str | None, Query(max_length=500)]
Status = Annotated[str | None, Query(max_length=16)]
MAX_CSV_ROWS = 10_000
TABLES = ("endpoints", "messages", "dead-letters")
OUTCOMES = ("accepted", "duplicate")


def _view(
    container: Container,
    tenant: str,
    status: str | None,
    mcursor: str | None,
    dcursor: str | None,
) -> dict[str, Any]:
    endpoints = container.webhooks.page(tenant, limit=100, cursor=None)
    messages = container.webhooks.messages(
        tenant, limit=web.PAGE_SIZE, cursor=mcursor, status=status or None
    )
    dead = container.dead_letters.list(tenant, status="open", cursor=dcursor, limit=web.PAGE_SIZE)
    return {
        "endpoints": endpoints.data,
        "messages": messages.data,
        "messages_next": messages.next_cursor
        and web.link("/console/operations", status=status, mcursor=messages.next_cursor),
        "dead": dead.items,
        "dead_next": dead.next_cursor
        and web.link("/console/operations", status=status, dcursor=dead.next_cursor),
        "drift": drift_view(container, tenant),
        "status": status or "",
    }


@router.get("/operations")
def operations(
    request: Request,
    container: ContainerDep,
    status: Status = None,
    mcursor: Cursor = None,
    dcursor: Cursor = None,
    retried: Annotated[str | None, Query(max_length=64)] = None,
    replayed: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    try:
        view = _view(container, who.tenant_id, status, mcursor, dcursor)
    except TallybookError as error:
        view = _view(container, who.tenant_id, None, None, None)
        view["error"] = error.message
        view["code"] = status_for(error)
    code = int(view.pop("code", 200))
    done = None
    if retried:
        done = f"Message {retried} queued for delivery again."
    elif replayed and outcome in OUTCOMES:
        done = f"Event {replayed} replayed: {outcome}."
    return _render(request, container, who, view, done, code)


def _render(
    request: Request,
    container: Container,
    who: web.Operator,
    view: dict[str, Any],
    done: str | None,
    code: int,
) -> Response:
    message_status = view.pop("status")
    return web.render(
        "operations.html",
        request=request,
        container=container,
        who=who,
        active="operations",
        done=done,
        message_status=message_status,
        status=code,
        **view,
    )


@router.post("/operations/messages/{message_id}/retry")
async def retry(message_id: str, request: Request, container: ContainerDep) -> Response:
    """Send a webhook message again now (fresh retry schedule, same ``webhook-id``)."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    if await web.form(request) is None:
        return web.forbidden(request, container, who)
    try:
        container.webhooks.retry(who.tenant_id, message_id)
    except TallybookError as error:
        view = _view(container, who.tenant_id, None, None, None)
        view["error"] = error.message
        return _render(request, container, who, view, None, status_for(error))
    auditing.action(
        container, who, "console webhook-messages retry", f"webhook-messages/{message_id}"
    )
    return RedirectResponse(web.link("/console/operations", retried=message_id), status_code=303)


@router.post("/operations/dead-letters/{rejected_id}/replay")
async def replay(rejected_id: str, request: Request, container: ContainerDep) -> Response:
    """Replay a dead-lettered event as received (it is validated again)."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    if await web.form(request) is None:
        return web.forbidden(request, container, who)
    try:
        result = container.dead_letters.replay(who.tenant_id, rejected_id)
    except TallybookError as error:
        view = _view(container, who.tenant_id, None, None, None)
        view["error"] = error.message
        return _render(request, container, who, view, None, status_for(error))
    auditing.action(
        container, who, "console events replay", f"events/rejected/{rejected_id}",
        {"outcome": result.outcome},
    )  # fmt: skip
    target = web.link("/console/operations", replayed=rejected_id, outcome=result.outcome)
    return RedirectResponse(target, status_code=303)


@router.get("/operations/{table}.csv")
def table_csv(
    table: str, request: Request, container: ContainerDep, status: Status = None
) -> Response:
    """``endpoints``, ``messages`` (``status`` filter) or ``dead-letters`` (open) as CSV."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    if table not in TABLES:
        raise NotFound(f"no table {table[:40]!r}", code="not_found")
    tenant = who.tenant_id
    if table == "endpoints":
        endpoints = container.webhooks.page(tenant, limit=1000, cursor=None).data
        return web.csv_response(
            "endpoints.csv",
            ["id", "url", "events", "status", "description", "created_at"],
            (
                [e.id, e.url, " ".join(e.events), e.status.value, e.description, e.created_at]
                for e in endpoints
            ),
        )
    if table == "messages":
        container.webhooks.messages(tenant, limit=1, cursor=None, status=status)  # 4xx now

        def messages() -> Iterator[list[Any]]:
            cursor, count = None, 0
            while count < MAX_CSV_ROWS:
                page = container.webhooks.messages(tenant, limit=1000, cursor=cursor, status=status)
                for m in page.data:
                    count += 1
                    yield [
                        m.id, m.type, m.endpoint_id, m.status.value, m.attempts,
                        m.last_status_code, m.last_error, m.created_at,
                    ]  # fmt: skip
                if page.next_cursor is None:
                    return
                cursor = page.next_cursor

        header = ["id", "type", "endpoint", "status", "attempts", "last_status_code"]
        return web.csv_response("messages.csv", [*header, "last_error", "created_at"], messages())

    def dead() -> Iterator[list[Any]]:
        cursor, count = None, 0
        while count < MAX_CSV_ROWS:
            page = container.dead_letters.list(tenant, status="open", cursor=cursor, limit=1000)
            for r in page.items:
                count += 1
                yield [r.id, r.format, r.received_at, r.event_id, r.code, r.message]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return web.csv_response(
        "dead-letters.csv", ["id", "format", "received_at", "event_id", "code", "message"], dead()
    )
