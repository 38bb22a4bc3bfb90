"""``/v1/keys``: create (the key is shown once), list (never the key or its hash), revoke.

Rules live in ``tallybook.services.keys``: roles are validated and stored (enforced per
route by ``api.access``; keys are admin-only), a key cannot revoke itself, the last admin key cannot be revoked, and a
revocation reaches every process within ``TALLYBOOK_KEY_CACHE_SECONDS``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, Strict
from tallybook.api.responses import JsonResponse, iso
from tallybook.services.keys import ROLES
from tallybook.services.ports import ApiKeyRow

router = APIRouter(tags=["keys"])


class KeyIn(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["billing-job"])
    roles: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None,
        min_length=1,
        max_length=len(ROLES),
        description="Any of " + ", ".join(ROLES) + '; default ["admin"]',
        examples=[["admin"]],
    )


def key_json(row: ApiKeyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "roles": list(row.roles),
        "prefix": row.prefix,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
    }


@router.post(
    "/v1/keys",
    summary="Create an API key (the key is in this answer only)",
    status_code=201,
)
def create_key(body: KeyIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    new = container.keys.create(tenant, body.name, body.roles)
    return JsonResponse(
        {
            "id": new.id,
            "name": new.name,
            "roles": list(new.roles),
            "key": new.key,
            "created_at": iso(new.created_at),
        },
        status_code=201,
    )


@router.get("/v1/keys", summary="The tenant's API keys (never the key itself)")
def list_keys(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.keys.list(tenant, limit=limit, cursor=cursor)
    return JsonResponse(
        {"data": [key_json(k) for k in page.items], "next_cursor": page.next_cursor}
    )


@router.delete(
    "/v1/keys/{key_id}",
    summary="Revoke an API key",
    description=(
        "`409 key_in_use` for the key making the call, `409 last_admin_key` for the tenant's "
        "last active admin key. Other processes stop accepting the key within "
        "`TALLYBOOK_KEY_CACHE_SECONDS` (default 10 s). Revoking a revoked key returns it."
    ),
)
def revoke_key(
    key_id: Annotated[str, Path(max_length=64)],
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
) -> JsonResponse:
    row = container.keys.revoke(tenant, key_id, caller=getattr(request.state, "key_id", None))
    return JsonResponse(key_json(row))
