"""``/v1/catalog`` and ``/v1/plans``: apply catalog documents, read versioned plans.

Bodies are JSON or YAML (``Content-Type: application/json``, ``application/yaml`` or
``text/yaml``), read with exact decimals and validated by the catalog document rules;
problems come back as ``422 invalid_catalog`` with every issue and its location.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.errors import HttpError
from tallybook.api.offload import offload
from tallybook.api.responses import JsonResponse, iso
from tallybook.bootstrap import Container
from tallybook.documents.catalog.document import CatalogDocument, CatalogInvalid, CatalogIssue
from tallybook.documents.catalog.document import catalog_to_document as to_document
from tallybook.documents.catalog.loading import read_text
from tallybook.domain.catalog.model import Catalog, Plan
from tallybook.services.catalog import plan_document
from tallybook.services.catalog_diff import CatalogDiff, ResourceChange

router = APIRouter(tags=["catalog"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
JSON_TYPES = ("application/json", "text/json")
_CATALOG_SCHEMA = {"$ref": "#/components/schemas/CatalogDocument"}


def document_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """OpenAPI for a hand-read JSON or YAML body."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": schema},
                "application/yaml": {"schema": schema},
            },
        }
    }


async def read_document(request: Request) -> bytes:
    """The body of a JSON or YAML document. Parse it with ``parse_document`` off the event
    loop (``offload``).

    Raises ``HttpError`` 415 ``unsupported_media_type`` unless the Content-Type is a JSON or
    YAML type (``text/plain`` and a missing Content-Type included)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES + JSON_TYPES:
        raise HttpError(
            415,
            "unsupported_media_type",
            "send JSON or YAML (Content-Type: application/json or application/yaml), "
            f"not {media or 'no Content-Type'}",
            {"content_type": media[:100], "accepted": [*JSON_TYPES, *YAML_TYPES]},
        )
    return await request.body()


def parse_document(body: bytes) -> Any:
    """The body as data (JSON or YAML, decimals exact). Nesting is bounded before parsing
    (``too_deep``) and YAML aliases are refused ("billion laughs": a catalog never needs
    them). CPU-bound: call it in a worker thread."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogInvalid([CatalogIssue("<body>", "the body is not UTF-8 text")]) from None
    return read_text(text, "<body>", allow_aliases=False)


def _apply_catalog(container: Container, tenant: str, body: bytes, dry_run: bool) -> CatalogDiff:
    data = parse_document(body)
    if not isinstance(data, dict):
        raise CatalogInvalid(
            [CatalogIssue("<body>", "a catalog document is a mapping with meters and plans")]
        )
    return container.catalog.apply(tenant, data, dry_run=dry_run)


def plan_json(plan: Plan, archived_at: datetime | None = None) -> dict[str, Any]:
    return {**plan_document(plan), "version": plan.version, "archived_at": iso(archived_at)}


def change_json(change: ResourceChange) -> dict[str, Any]:
    return {"kind": change.kind, **change.to_dict()}


@router.put(
    "/v1/catalog",
    summary="Apply a catalog document (additive; a changed plan publishes a new version)",
    openapi_extra=document_body(_CATALOG_SCHEMA, "Catalog document: meters and plans"),
)
async def put_catalog(
    request: Request,
    tenant: TenantDep,
    container: ContainerDep,
    dry_run: Annotated[bool, Query(description="Report the diff without applying it")] = False,
) -> JsonResponse:
    body = await read_document(request)
    diff = await offload(request, _apply_catalog, container, tenant, body, dry_run)
    return JsonResponse(diff.to_dict())


@router.get(
    "/v1/catalog",
    summary="The catalog: every meter and the latest version of every plan",
    response_model=CatalogDocument,
)
def get_catalog(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    catalog: Catalog = container.catalog.catalog(tenant)
    return JsonResponse(to_document(catalog))


@router.get("/v1/plans", summary="Plans (latest versions; archived ones only when asked)")
def list_plans(
    tenant: TenantDep,
    container: ContainerDep,
    include_archived: Annotated[bool, Query(description="Also archived plans")] = False,
) -> JsonResponse:
    archived = container.archive.archived_plans(tenant)
    data = [
        plan_json(p, archived.get(p.key))
        for p in container.catalog.list_plans(tenant)
        if include_archived or p.key not in archived
    ]
    return JsonResponse({"data": data, "next_cursor": None})


@router.post(
    "/v1/plans/{key}/archive",
    summary="Archive a plan: no new subscriptions; existing ones keep billing",
    description=(
        "New subscriptions and plan changes to it answer `409 plan_archived`; subscriptions "
        "already on it keep billing (and may move to a newer version of it). Hidden from "
        "`GET /v1/plans` unless `include_archived=true`. Idempotent."
    ),
)
def archive_plan(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    archived_at = container.archive.archive_plan(tenant, key)
    return JsonResponse(plan_json(container.catalog.get_plan(tenant, key), archived_at))


@router.post(
    "/v1/plans",
    summary="Create a plan, or publish a new version when its content changed",
    openapi_extra=document_body({"$ref": "#/components/schemas/PlanDocument"}, "One plan"),
    status_code=201,
)
async def post_plan(request: Request, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return await post_resource(
        request,
        tenant,
        container,
        "plans",
        lambda key: plan_json(container.catalog.get_plan(tenant, key)),
    )


@router.get("/v1/plans/{key}", summary="A plan: the latest version, or ?version=n")
def get_plan(
    key: str,
    tenant: TenantDep,
    container: ContainerDep,
    version: Annotated[int | None, Query(ge=1, description="A published version")] = None,
) -> JsonResponse:
    plan = container.catalog.get_plan(tenant, key, version)
    return JsonResponse(plan_json(plan, container.archive.plan_archived_at(tenant, key)))


@router.get("/v1/plans/{key}/versions", summary="Every published version of a plan")
def plan_versions(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    versions = container.catalog.plan_versions(tenant, key)
    data = [
        {"version": v.version, "created_at": iso(v.created_at), "latest": v.latest}
        for v in versions
    ]
    return JsonResponse({"key": key, "data": data, "next_cursor": None})


async def post_resource(
    request: Request,
    tenant: str,
    container: Container,
    kind: Literal["meters", "plans"],
    render: Callable[[str], dict[str, Any]],
) -> JsonResponse:
    """Apply one meter or plan document; 201 when created, 200 when updated or unchanged."""
    body = await read_document(request)

    def apply() -> ResourceChange:
        data = parse_document(body)
        if kind == "plans" and isinstance(data, dict):
            data.pop("archived_at", None)  # read-only (set by /archive): a GET body round-trips
        return container.catalog.apply_resource(tenant, kind, data)

    change = await offload(request, apply)
    resource = await run_in_threadpool(render, change.key)
    status = 201 if change.action == "created" else 200
    return JsonResponse({**resource, "change": change_json(change)}, status_code=status)
