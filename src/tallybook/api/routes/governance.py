"""``/v1/catalog/changes``, ``/v1/plans/{key}/rollback`` and ``/v1/plans/{key}/migrations``:
governed price changes and bulk version migrations.

Rules live in ``tallybook.services.governance``; this module translates HTTP. The audit
entry of each call is written by ``api.audit_hook`` (its ``reason`` from the body).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, InstantIn, Strict, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.governance.changes import ChangeTiming, Existing
from tallybook.services.governance import Actor, ChangeView, Proposal
from tallybook.services.migrations import MigrationRequest

router = APIRouter(tags=["governance"])

Reason = Annotated[str | None, Field(None, max_length=2000, examples=["Q3 repricing"])]
TimingIn = Literal["next_period", "immediate"]
ExistingIn = Literal["migrate", "grandfather"]
ChangeId = Annotated[str, Path(max_length=64)]


class ChangeIn(Strict):
    id: Annotated[str | None, Field(None, min_length=1, max_length=64)] = None
    document: dict[str, Any] = Field(
        description="A catalog document (meters and plans) as PUT /v1/catalog takes it"
    )
    effective_at: InstantIn
    timing: TimingIn = "next_period"
    existing: ExistingIn = "migrate"
    reason: Reason = None


class DecisionIn(Strict):
    reason: Reason = None


class RollbackIn(Strict):
    to_version: int = Field(ge=1, le=1_000_000)
    effective_at: InstantIn
    timing: TimingIn = "next_period"
    existing: ExistingIn = "migrate"
    reason: Reason = None


def actor_of(request: Request) -> Actor:
    """The calling key as the actor (set by ``api.deps.get_tenant``)."""
    key_id = str(getattr(request.state, "key_id", "") or "")
    return Actor(key_id, str(getattr(request.state, "key_name", "") or key_id))


def change_json(view: ChangeView) -> dict[str, Any]:
    row = view.row
    return {
        "id": row.id,
        "kind": row.kind,
        "status": view.status.value,
        "author": row.author,
        "author_key": row.author_key,
        "effective_at": iso(row.effective_at),
        "timing": row.timing,
        "existing": row.existing,
        "reason": row.reason,
        "document": row.document,
        "diff": row.diff,
        "checks": row.checks,
        "impact": row.impact,
        "versions": row.versions,
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
        "decision_reason": row.decision_reason,
        "created_at": iso(row.created_at),
    }


@router.post(
    "/v1/catalog/changes",
    summary="Propose a catalog change (diff, checks and impact; approved by another key)",
    status_code=201,
)
def propose_change(
    body: ChangeIn, request: Request, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    proposal = Proposal(
        document=body.document,
        effective_at=_instant("effective_at", body.effective_at),
        timing=ChangeTiming(body.timing),
        existing=Existing(body.existing),
        reason=body.reason,
        id=body.id,
    )
    request.state.audit_reason = body.reason
    view = container.governance.propose(tenant, actor_of(request), proposal)
    return JsonResponse(change_json(view), status_code=201)


@router.get("/v1/catalog/changes", summary="Catalog changes (by id)")
def list_changes(
    tenant: TenantDep,
    container: ContainerDep,
    status: Annotated[
        Literal["pending_approval", "approved", "active", "superseded", "rejected"] | None,
        Query(description="Only changes showing this status"),
    ] = None,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.governance.list_changes(tenant, status=status, limit=limit, cursor=cursor)
    return JsonResponse(
        {"data": [change_json(v) for v in page.items], "next_cursor": page.next_cursor}
    )


@router.get("/v1/catalog/changes/{change_id}", summary="A catalog change")
def get_change(change_id: ChangeId, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(change_json(container.governance.get(tenant, change_id)))


@router.post(
    "/v1/catalog/changes/{change_id}/approve",
    summary="Approve a pending change (not by its author): publish and roll it out",
    description=(
        "`403 approval_self_forbidden` for the author's key, `409 change_not_pending` for a "
        "change already approved, rejected or superseded (of two racing approvers one wins), "
        "`409 checks_failed`, `409 effective_in_billed_period`."
    ),
)
def approve_change(
    change_id: ChangeId,
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
    body: DecisionIn | None = None,
) -> JsonResponse:
    reason = body.reason if body else None
    request.state.audit_reason = reason
    view = container.governance.approve(tenant, change_id, actor_of(request), reason)
    return JsonResponse(change_json(view))


@router.post("/v1/catalog/changes/{change_id}/reject", summary="Reject a pending change")
def reject_change(
    change_id: ChangeId,
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
    body: DecisionIn | None = None,
) -> JsonResponse:
    reason = body.reason if body else None
    request.state.audit_reason = reason
    view = container.governance.reject(tenant, change_id, actor_of(request), reason)
    return JsonResponse(change_json(view))


@router.post(
    "/v1/plans/{key}/rollback",
    summary="Propose a rollback: a new change whose content equals an earlier version",
    status_code=201,
)
def rollback_plan(
    key: Annotated[str, Path(max_length=255)],
    body: RollbackIn,
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
) -> JsonResponse:
    proposal = Proposal(
        document={},
        effective_at=_instant("effective_at", body.effective_at),
        timing=ChangeTiming(body.timing),
        existing=Existing(body.existing),
        reason=body.reason,
    )
    request.state.audit_reason = body.reason
    view = container.governance.rollback(tenant, actor_of(request), key, body.to_version, proposal)
    return JsonResponse(change_json(view), status_code=201)


def _instant(name: str, value: str) -> Any:
    instant = instant_field(name, value)
    assert instant is not None
    return instant


class MigrationIn(Strict):
    from_version: int = Field(ge=1, le=1_000_000)
    to_version: int = Field(ge=1, le=1_000_000)
    effective_at: InstantIn | None = Field(None, description="default: now")
    timing: TimingIn = "next_period"
    customers: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255)]] | None,
        Field(None, max_length=1000),
    ] = None
    periods: int = Field(3, ge=1, le=12, description="closed periods to preview per customer")
    dry_run: bool = Field(True, description="preview only (the default)")
    reason: Reason = None


@router.post(
    "/v1/plans/{key}/migrations",
    summary="Move a plan's subscribers between versions, with a per-customer preview",
    description=(
        "`dry_run` (default true) only previews: per customer, what its last `periods` "
        "closed periods billed and would have billed on `to_version`. With `dry_run: false` "
        "every subscription on `from_version` switches (`timing` as for catalog changes); "
        "`409 approval_required` when the tenant requires approval."
    ),
)
def migrate_plan(
    key: Annotated[str, Path(max_length=255)],
    body: MigrationIn,
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
) -> JsonResponse:
    request.state.audit_reason = body.reason
    answer = container.migrations.migrate(
        tenant,
        MigrationRequest(
            plan=key,
            from_version=body.from_version,
            to_version=body.to_version,
            effective_at=instant_field("effective_at", body.effective_at),
            timing=ChangeTiming(body.timing),
            customers=body.customers,
            periods=body.periods,
            dry_run=body.dry_run,
        ),
    )
    return JsonResponse(answer)
