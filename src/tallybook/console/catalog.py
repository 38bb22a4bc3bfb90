"""Catalog: meters and plans with their versions, one plan version with its version
history, and a rollback proposed from that history (``GovernanceService.rollback``, as
``POST /v1/plans/{key}/rollback``: a new change, approved by another key like any other).

Reading is every console role's; the change editor is ``console.change_editor`` and the
approvals queue ``console.approvals``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, nav, web
from tallybook.console.change_editor import as_yaml, next_month
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.domain.governance.changes import ChangeTiming, Existing
from tallybook.domain.periods import parse_instant
from tallybook.services.catalog import plan_document
from tallybook.services.governance import Proposal

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("catalog", "Catalog", "/console/catalog"))
PlanKey = Annotated[str, Path(max_length=255)]
Version = Annotated[int | None, Query(ge=1, le=1_000_000)]


def _message(
    request: Request, container: Container, who: web.Operator, error: TallybookError
) -> Response:
    return web.render(
        "message.html",
        request=request,
        container=container,
        who=who,
        active="catalog",
        status=status_for(error),
        title="Not shown",
        message=error.message,
        back="/console/catalog",
    )


@router.get("/catalog")
def catalog(request: Request, container: ContainerDep) -> Response:
    """Every meter and the latest version of every plan."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    tenant = who.tenant_id
    pending = container.governance.list_changes(tenant, status="pending_approval", limit=1)
    return web.render(
        "catalog.html",
        request=request,
        container=container,
        who=who,
        active="catalog",
        meters=sorted(container.catalog.list_meters(tenant), key=lambda m: m.key),
        plans=container.catalog.list_plans(tenant),
        pending=bool(pending.items),
    )


def charge_rows(document: dict[str, Any]) -> list[dict[str, str]]:
    """One row per charge of a plan document: key, type, model and its price fields."""
    rows = []
    for charge in document.get("charges", []):
        prices = {
            k: v
            for k, v in charge.items()
            if k not in ("key", "type", "meter", "name", "model", "timing", "tax_rates")
        }
        rows.append(
            {
                "key": str(charge.get("key", "")),
                "type": str(charge.get("type", "")),
                "meter": str(charge.get("meter") or ""),
                "model": str(charge.get("model") or ""),
                "prices": as_yaml(prices).strip() if prices else "",
            }
        )
    return rows


@router.get("/catalog/plans/{key}")
def plan(
    key: PlanKey, request: Request, container: ContainerDep, version: Version = None
) -> Response:
    """A plan version (the latest by default), its charges and its version history."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    try:
        shown = container.catalog.get_plan(who.tenant_id, key, version)
        history = container.catalog.plan_versions(who.tenant_id, key)
    except TallybookError as error:
        return _message(request, container, who, error)
    document = plan_document(shown)
    return web.render(
        "plan.html",
        request=request,
        container=container,
        who=who,
        active="catalog",
        plan=shown,
        charges=charge_rows(document),
        document=as_yaml({"plans": [document]}),
        history=list(reversed(history)),
        latest=history[-1].version,
    )


def _rollback_page(
    request: Request,
    container: Container,
    who: web.Operator,
    key: str,
    version: int,
    fields: dict[str, str],
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    try:
        target = container.catalog.get_plan(who.tenant_id, key, version)
        latest = container.catalog.get_plan(who.tenant_id, key)
    except TallybookError as failed:
        return _message(request, container, who, failed)
    return web.render(
        "rollback.html",
        request=request,
        container=container,
        who=who,
        active="catalog",
        status=status,
        key=key,
        target=target,
        latest=latest,
        fields=fields,
        error=error,
    )


@router.get("/catalog/plans/{key}/rollback")
def rollback_form(
    key: PlanKey,
    request: Request,
    container: ContainerDep,
    version: Annotated[int, Query(ge=1, le=1_000_000)],
) -> Response:
    """The rollback form: effective when, timing, existing subscribers, reason."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = {
        "effective_at": next_month(container.clock.now()),
        "timing": "next_period",
        "existing": "migrate",
        "reason": "",
    }
    return _rollback_page(request, container, who, key, version, fields)


@router.post("/catalog/plans/{key}/rollback")
async def rollback(key: PlanKey, request: Request, container: ContainerDep) -> Response:
    """Propose the rollback (a change awaiting approval); to the change's page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    version_text = fields.get("version", "")
    version = int(version_text) if version_text.isdigit() and len(version_text) < 8 else 0
    if version < 1:
        error = ValidationError("version must be a whole number from 1", code="invalid_version")
        return _message(request, container, who, error)
    try:
        timing, existing = fields.get("timing", ""), fields.get("existing", "")
        if timing not in ("next_period", "immediate") or existing not in ("migrate", "grandfather"):
            raise ValidationError(
                "timing must be next_period or immediate; existing migrate or grandfather",
                code="invalid_request",
            )
        reason = (fields.get("reason") or "").strip() or None
        proposal = Proposal(
            document={},
            effective_at=parse_instant(fields.get("effective_at", "").strip()),
            timing=ChangeTiming(timing),
            existing=Existing(existing),
            reason=reason,
        )
        view = container.governance.rollback(
            who.tenant_id, auditing.actor(who), key, version, proposal
        )
    except TallybookError as error:
        return _rollback_page(
            request, container, who, key, version, fields, status=status_for(error),
            error=error.message,
        )  # fmt: skip
    auditing.record(container, who, "rollback", view, view.row.reason)
    return RedirectResponse(f"/console/approvals/{view.row.id}?proposed=1", status_code=303)
