"""Approvals: the catalog changes by status (pending first), one change with its diff,
checks and impact, and the decision: approve or reject after a confirmation page (POST
with the session's CSRF token; ``GovernanceService.approve`` / ``reject``, as
``POST /v1/catalog/changes/{id}/approve`` and ``/reject``, role ``pricing_approver``).

The service's refusals reach the page with their status: the author's own key approving
(``403 approval_self_forbidden``), a change already decided (``409 change_not_pending``),
failed checks (``409 checks_failed``), ``409 effective_in_billed_period``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, nav, web
from tallybook.domain.errors import TallybookError
from tallybook.services.governance import ChangeView

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("approvals", "Approvals", "/console/approvals"))
ChangeId = Annotated[str, Path(max_length=64)]
Status = Literal["pending_approval", "approved", "active", "superseded", "rejected", "all"]
VERBS = {"approve": "Approve", "reject": "Reject"}


@router.get("/approvals")
def approvals(
    request: Request,
    container: ContainerDep,
    status: Annotated[Status, Query()] = "pending_approval",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Catalog changes with ``status`` (pending approval by default), paginated."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    try:
        page = container.governance.list_changes(
            who.tenant_id,
            status=None if status == "all" else status,
            limit=web.PAGE_SIZE,
            cursor=cursor,
        )
    except TallybookError as error:
        return web.render(
            "approvals.html", request=request, container=container, who=who,
            active="approvals", status=status_for(error), error=error.message, rows=[],
            chosen=status,
        )  # fmt: skip
    return web.render(
        "approvals.html",
        request=request,
        container=container,
        who=who,
        active="approvals",
        rows=page.items,
        chosen=status,
        next_url=page.next_cursor
        and web.link("/console/approvals", status=status, cursor=page.next_cursor),
        first_url=cursor and web.link("/console/approvals", status=status),
    )


def change_page(
    request: Request,
    container: Container,
    who: web.Operator,
    change_id: str,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    """One change: facts, diff, checks, impact, decision forms (by role)."""
    try:
        view = container.governance.get(who.tenant_id, change_id)
    except TallybookError as error:
        return web.render(
            "message.html", request=request, container=container, who=who,
            active="approvals", status=status_for(error), title="Change not shown",
            message=error.message, back="/console/approvals",
        )  # fmt: skip
    return web.render(
        "change.html",
        request=request,
        container=container,
        who=who,
        active="approvals",
        status=status,
        view=view,
        change=view.row,
        mine=view.row.author_key == who.key_id,
        **context,
    )


@router.get("/approvals/{change_id}")
def change(
    change_id: ChangeId,
    request: Request,
    container: ContainerDep,
    proposed: Annotated[int | None, Query(ge=1, le=1)] = None,
    decided: Annotated[Literal["approve", "reject"] | None, Query()] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return change_page(request, container, who, change_id, proposed=proposed, decided=decided)


@router.post("/approvals/{change_id}/approve")
async def approve(change_id: ChangeId, request: Request, container: ContainerDep) -> Response:
    """Approve (after the confirmation page): publish and roll out the change."""
    return await _decide(change_id, "approve", request, container)


@router.post("/approvals/{change_id}/reject")
async def reject(change_id: ChangeId, request: Request, container: ContainerDep) -> Response:
    """Reject (after the confirmation page)."""
    return await _decide(change_id, "reject", request, container)


async def _decide(change_id: str, verb: str, request: Request, container: Container) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    reason = (fields.get("reason") or "").strip() or None
    try:
        if fields.get("confirm") != "yes":
            view = container.governance.get(who.tenant_id, change_id)
            own = verb == "approve" and view.row.author_key == who.key_id
            if not own:  # the author's own approval is refused at once, below
                return _confirm(request, container, who, view, verb, reason)
        decide = container.governance.approve if verb == "approve" else container.governance.reject
        view = decide(who.tenant_id, change_id, auditing.actor(who), reason)
    except TallybookError as error:
        return change_page(
            request, container, who, change_id, status=status_for(error),
            error=error.message, error_code=error.code,
        )  # fmt: skip
    auditing.record(container, who, verb, view, reason)
    return RedirectResponse(
        web.link(f"/console/approvals/{view.row.id}", decided=verb), status_code=303
    )


def _confirm(
    request: Request,
    container: Container,
    who: web.Operator,
    view: ChangeView,
    verb: str,
    reason: str | None,
) -> Response:
    return web.render(
        "change_confirm.html",
        request=request,
        container=container,
        who=who,
        active="approvals",
        change=view.row,
        status_shown=view.status.value,
        verb=verb,
        label=VERBS[verb],
        reason=reason or "",
    )
