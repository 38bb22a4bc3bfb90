"""``/v1/webhook-endpoints`` and ``/v1/webhook-messages`` (CONTRACT.md Part 2, Webhooks).

Lists are paginated (``limit`` 1-1000, opaque ``cursor``; the answer's ``next_cursor`` is
null on the last page); unknown query parameters are refused; an endpoint's ``secret``
appears only in the answers of create and rotate-secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import Strict
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.webhooks import (
    MAX_DESCRIPTION,
    MAX_FILTERS,
    MAX_URL_LENGTH,
    ROTATION_OVERLAP,
    Endpoint,
    Message,
    message_body,
)
from tallybook.services.webhooks import MAX_PAGE, Page

router = APIRouter(tags=["webhooks"])

EventType = Annotated[str, Field(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size (1-1000).")]
Cursor = Annotated[str | None, Query(max_length=400, description="From next_cursor.")]
EndpointId = Annotated[str, Path(max_length=255)]
MessageId = Annotated[str, Path(max_length=40)]


class EndpointIn(Strict):
    id: str | None = Field(None, min_length=1, max_length=255, description="Client id (optional)")
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    events: list[EventType] = Field(["*"], min_length=1, max_length=MAX_FILTERS)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)


class EndpointPatch(Strict):
    url: str | None = Field(None, min_length=1, max_length=MAX_URL_LENGTH)
    events: list[EventType] | None = Field(None, min_length=1, max_length=MAX_FILTERS)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)


def endpoint_json(endpoint: Endpoint, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "status": endpoint.status.value,
        "disabled_reason": endpoint.disabled_reason,
        "secret_rotated_at": iso(endpoint.secret_rotated_at),
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def message_json(message: Message, *, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": message.id,
        "type": message.type,
        "status": message.status.value,
        "endpoint": message.endpoint_id,
        "event": message.event_id,
        "attempt_count": message.attempts,
        "next_attempt_at": iso(message.next_attempt_at),
        "last_status_code": message.last_status_code,
        "last_error": message.last_error,
        "created_at": iso(message.created_at),
        "delivered_at": iso(message.delivered_at),
        "payload": message_body(
            message.id, message.type, message.occurred_at, message.sequence, message.data
        ),
    }
    if detail:
        body["attempts"] = [
            {
                "attempt": a.attempt,
                "at": iso(a.started_at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in message.attempt_log
        ]
    return body


def _page_json(page: Page[Any], render: Any) -> dict[str, Any]:
    return {
        "data": [render(item) for item in page.data],
        "has_more": page.next_cursor is not None,
        "next_cursor": page.next_cursor,
    }


# -- endpoints --------------------------------------------------------------------------


@router.post(
    "/v1/webhook-endpoints",
    summary="Create a webhook endpoint (the secret is shown once)",
    status_code=201,
)
def create_endpoint(body: EndpointIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    created = container.webhooks.create(
        tenant, body.url, body.events, body.description, endpoint_id=body.id
    )
    return JsonResponse(
        endpoint_json(created.endpoint, created.secret), status_code=201 if created.created else 200
    )


@router.get(
    "/v1/webhook-endpoints",
    summary="Webhook endpoints (paginated)",
)
def list_endpoints(
    tenant: TenantDep, container: ContainerDep, limit: Limit = 100, cursor: Cursor = None
) -> JsonResponse:
    page = container.webhooks.page(tenant, limit=limit, cursor=cursor)
    return JsonResponse(_page_json(page, endpoint_json))


@router.get("/v1/webhook-endpoints/{endpoint_id}", summary="A webhook endpoint")
def get_endpoint(
    endpoint_id: EndpointId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return JsonResponse(endpoint_json(container.webhooks.get(tenant, endpoint_id)))


@router.patch(
    "/v1/webhook-endpoints/{endpoint_id}",
    summary="Change an endpoint's URL, event filter or description",
)
def update_endpoint(
    endpoint_id: EndpointId, body: EndpointPatch, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    endpoint = container.webhooks.update(
        tenant, endpoint_id, url=body.url, events=body.events, description=body.description
    )
    return JsonResponse(endpoint_json(endpoint))


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}",
    summary="Delete an endpoint (its pending messages fail)",
)
def delete_endpoint(
    endpoint_id: EndpointId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    container.webhooks.delete(tenant, endpoint_id)
    return JsonResponse({"id": endpoint_id, "deleted": True})


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    summary="New signing secret; the old one also signs for 24 hours",
)
def rotate_secret(
    endpoint_id: EndpointId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    endpoint, secret = container.webhooks.rotate_secret(tenant, endpoint_id)
    body = endpoint_json(endpoint, secret)
    rotated = endpoint.secret_rotated_at
    body["previous_secret_expires_at"] = iso(rotated + ROTATION_OVERLAP) if rotated else None
    return JsonResponse(body)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/disable",
    summary="Stop delivering to an endpoint (messages wait)",
)
def disable_endpoint(
    endpoint_id: EndpointId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return JsonResponse(endpoint_json(container.webhooks.set_enabled(tenant, endpoint_id, False)))


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/enable",
    summary="Resume delivering to an endpoint",
)
def enable_endpoint(
    endpoint_id: EndpointId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return JsonResponse(endpoint_json(container.webhooks.set_enabled(tenant, endpoint_id, True)))


# -- messages ---------------------------------------------------------------------------


@router.get(
    "/v1/webhook-messages",
    summary="Webhook messages, newest first (paginated)",
)
def list_messages(
    tenant: TenantDep,
    container: ContainerDep,
    type: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    endpoint: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> JsonResponse:
    page = container.webhooks.messages(
        tenant, limit=limit, cursor=cursor, type=type, status=status, endpoint=endpoint
    )
    return JsonResponse(_page_json(page, message_json))


@router.get(
    "/v1/webhook-messages/{message_id}",
    summary="A webhook message and its attempts",
)
def get_message(message_id: MessageId, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(message_json(container.webhooks.message(tenant, message_id), detail=True))


@router.post(
    "/v1/webhook-messages/{message_id}/retry",
    summary="Send a message again now (same webhook-id, fresh retry schedule)",
    status_code=202,
)
def retry_message(
    message_id: MessageId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    message = container.webhooks.retry(tenant, message_id)
    return JsonResponse(message_json(message, detail=True), status_code=202)
