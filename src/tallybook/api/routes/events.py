"""``/v1/events``: ingestion, listing, and the dead-letter store of rejected events.

The ingest body is parsed with orjson straight from the request bytes (no pydantic on
the hot path); its schema is documented for OpenAPI through ``openapi_extra``. Storage
work runs in the threadpool so the event loop never waits on the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tallybook.adapters.store.events import RejectedEvent, StoredEvent
from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.errors import error_response
from tallybook.api.responses import JsonResponse, iso
from tallybook.bootstrap import Container
from tallybook.domain.errors import ValidationError
from tallybook.services.events_deadletters import AS_RECEIVED
from tallybook.services.ingest import BatchResult

router = APIRouter(tags=["events"])

# -- OpenAPI documentation of the hand-parsed bodies and the responses -----------------

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "customer", "type"],
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "Idempotency key",
        },
        "customer": {"type": "string", "minLength": 1, "maxLength": 255},
        "type": {"type": "string", "minLength": 1, "maxLength": 255},
        "timestamp": {"type": "string", "format": "date-time", "description": "Default: now"},
        "properties": {"type": "object", "additionalProperties": True},
    },
}
INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        EVENT_SCHEMA,
                        {"type": "array", "items": EVENT_SCHEMA},
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": EVENT_SCHEMA}},
                        },
                    ]
                }
            }
        },
    }
}
REPLAY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "The corrected event (same format as received); empty: replay as received",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "invalid_json or invalid_body"},
    413: {"model": ErrorBody, "description": "batch_too_large or payload_too_large"},
    415: {"model": ErrorBody, "description": "unsupported_media_type"},
}


class IngestError(BaseModel):
    index: int
    id: str | None
    code: str
    message: str


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    conflicts: int
    errors: list[IngestError]


class EventOut(BaseModel):
    id: str
    source: str | None
    customer: str
    type: str
    timestamp: datetime
    properties: dict[str, Any]
    received_at: datetime


class EventList(BaseModel):
    data: list[EventOut]
    next_cursor: str | None


class Rejected(BaseModel):
    id: str
    status: Literal["open", "replayed", "discarded"]
    code: str
    message: str
    event_id: str | None
    source: str | None
    format: Literal["native", "cloudevents"]
    event: Any
    received_at: datetime
    replayed_at: datetime | None
    discarded_at: datetime | None


class RejectedList(BaseModel):
    data: list[Rejected]
    next_cursor: str | None


class ReplayResponse(BaseModel):
    outcome: Literal["accepted", "duplicate"]
    rejected_event: Rejected


# -- request parsing ---------------------------------------------------------------------


class BadRequest(Exception):
    """A request-level problem (the body as a whole), answered before any event is read."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "invalid_json", f"body is not valid JSON: {exc}") from None


def native_items(document: Any) -> list[Any]:
    """One event, an array of events, or ``{"events": [...]}``."""
    if type(document) is list:
        return document
    if type(document) is dict:
        if "events" in document:
            batch = document["events"]
            if type(batch) is list:
                return batch
            raise BadRequest(400, "invalid_body", '"events" must be an array of events')
        return [document]
    raise BadRequest(400, "invalid_body", "body must be an event, an array or {events: [...]}")


def parse_and_ingest(container: Container, tenant: str, body: bytes) -> BatchResult:
    """Parse the JSON body and ingest its events (call it in a worker thread). Raises
    ``BadRequest`` for a body that is not JSON or not events."""
    return container.ingest.ingest(tenant, native_items(parse_json(body)), "native")


def count_outcomes(request: Request, result: BatchResult) -> None:
    counter = request.app.state.metrics.events
    for outcome, n in (
        ("accepted", result.accepted),
        ("duplicate", result.duplicates),
        ("conflict", result.conflicts),
        ("rejected", result.rejected - result.conflicts),
    ):
        if n:
            counter.labels(outcome).inc(n)


@router.post(
    "/v1/events",
    summary="Ingest one event, an array of events, or {events: [...]}",
    response_model=IngestResponse,
    responses=INGEST_RESPONSES,
    openapi_extra=INGEST_BODY,
)
async def ingest_events(request: Request, tenant: TenantDep, container: ContainerDep) -> Response:
    try:
        if media_type(request) != "application/json":
            raise BadRequest(415, "unsupported_media_type", "send Content-Type: application/json")
        body = await request.body()
        # parsing a body of up to 16 MB is CPU work too: off the event loop, with the ingest
        result = await run_in_threadpool(parse_and_ingest, container, tenant, body)
    except BadRequest as bad:
        return error_response(bad.status, bad.code, bad.message)
    count_outcomes(request, result)
    return JsonResponse(result.as_dict())


def parse_instant(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > 19 and text[-6] == " ":  # a '+' offset that was not URL-encoded
        text = text[:-6] + "+" + text[-5:]
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise ValidationError(
            f"{name} must be an RFC 3339 instant with an offset", code="invalid_parameter"
        )
    return instant


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "source": event.source or None,
        "customer": event.customer,
        "type": event.type,
        "timestamp": iso(event.ts),
        "properties": orjson.Fragment(event.properties),
        "received_at": iso(event.received_at),
    }


@router.get("/v1/events", summary="List stored events", response_model=EventList)
def list_events(
    tenant: TenantDep,
    container: ContainerDep,
    customer: str | None = None,
    type: Annotated[str | None, Query(description="Event type")] = None,
    start: Annotated[str | None, Query(alias="from", description="ts >= from (RFC 3339)")] = None,
    end: Annotated[str | None, Query(alias="to", description="ts < to (RFC 3339)")] = None,
    order: Annotated[Literal["desc", "asc"], Query(description="newest or oldest first")] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> JsonResponse:
    page = container.ingest.list_events(
        tenant,
        customer=customer,
        event_type=type,
        start=parse_instant("from", start),
        end=parse_instant("to", end),
        cursor=cursor,
        newest_first=order == "desc",
        limit=limit,
    )
    data = [event_json(e) for e in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


def rejected_json(record: RejectedEvent) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": record.status,
        "code": record.code,
        "message": record.message,
        "event_id": record.event_id,
        "source": record.source,
        "format": record.format,
        "event": orjson.Fragment(record.event),
        "received_at": iso(record.received_at),
        "replayed_at": iso(record.replayed_at),
        "discarded_at": iso(record.discarded_at),
    }


@router.get(
    "/v1/events/rejected",
    summary="List rejected events (dead letters)",
    response_model=RejectedList,
)
def list_rejected(
    tenant: TenantDep,
    container: ContainerDep,
    status: Annotated[Literal["open", "replayed", "discarded"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> JsonResponse:
    page = container.dead_letters.list(tenant, status=status, cursor=cursor, limit=limit)
    data = [rejected_json(r) for r in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


@router.get(
    "/v1/events/rejected/{rejected_id}", summary="One rejected event", response_model=Rejected
)
def get_rejected(rejected_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(rejected_json(container.dead_letters.get(tenant, rejected_id)))


@router.post(
    "/v1/events/rejected/{rejected_id}/replay",
    summary="Replay a rejected event, as received or with a corrected body",
    response_model=ReplayResponse,
    openapi_extra=REPLAY_BODY,
)
async def replay_rejected(
    rejected_id: str, request: Request, tenant: TenantDep, container: ContainerDep
) -> Response:
    body = await request.body()
    corrected: Any = AS_RECEIVED
    if body.strip():
        try:
            if media_type(request) != "application/json":
                raise BadRequest(
                    415, "unsupported_media_type", "send Content-Type: application/json"
                )
            corrected = parse_json(body)
        except BadRequest as bad:
            return error_response(bad.status, bad.code, bad.message)
    result = await run_in_threadpool(container.dead_letters.replay, tenant, rejected_id, corrected)
    return JsonResponse(
        {"outcome": result.outcome, "rejected_event": rejected_json(result.rejected)}
    )


@router.post(
    "/v1/events/rejected/{rejected_id}/discard",
    summary="Discard a rejected event",
    response_model=Rejected,
)
def discard_rejected(rejected_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(rejected_json(container.dead_letters.discard(tenant, rejected_id)))
