"""``/v1/audit``: the tenant's hash-chained audit log, and its verification.

Rules live in ``tallybook.services.audit`` and ``tallybook.domain.governance.audit``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.governance.audit import AuditEntry

router = APIRouter(tags=["audit"])


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """The contract's entry shape (plus ``actor_key``, the key's id)."""
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "actor": entry.actor,
        "actor_key": entry.actor_key,
        "action": entry.action,
        "object": entry.object,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


@router.get("/v1/audit", summary="Audit entries (oldest first), filtered")
def list_audit(
    tenant: TenantDep,
    container: ContainerDep,
    object: Annotated[
        str | None, Query(max_length=500, description="Exact object, e.g. customers/acme")
    ] = None,
    actor: Annotated[str | None, Query(max_length=200, description="Key name")] = None,
    start: Annotated[
        str | None, Query(alias="from", max_length=64, description="at >= from (RFC 3339)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", max_length=64, description="at < to (RFC 3339)")
    ] = None,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.audit.list(
        tenant,
        object=object,
        actor=actor,
        start=instant_field("from", start),
        end=instant_field("to", end),
        limit=limit,
        cursor=cursor,
    )
    return JsonResponse(
        {"data": [entry_json(e) for e in page.items], "next_cursor": page.next_cursor}
    )


@router.get(
    "/v1/audit/verify",
    summary="Recompute the hash chain; name the first broken entry",
    description=(
        "`hash = sha256(prev_hash + canonical JSON of the entry)`; `broken_at` is the `seq` "
        "of the first entry whose hash or link does not hold (null when `ok`)."
    ),
)
async def verify_audit(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    result = await run_in_threadpool(container.audit.verify, tenant)
    return JsonResponse(
        {
            "ok": result.ok,
            "entries": result.entries,
            "broken_at": result.broken_at,
            "problem": result.reason,
        }
    )
