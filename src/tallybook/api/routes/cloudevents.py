"""``POST /api/v1/events``: CloudEvents ingestion, compatible with OpenMeter and its SDKs.

Content types: ``application/cloudevents+json`` (one event), ``application/cloudevents-batch+json``
(an array) and ``application/json`` (one or an array), any charset parameter. Mapping:
``subject`` -> customer, ``type`` -> type, ``time`` -> timestamp, ``data`` -> properties,
``(source, id)`` -> idempotency key; ``specversion`` defaults to "1.0".

Success, duplicates included, is ``204 No Content``. Errors are RFC 7807
``application/problem+json`` documents (``type``, ``title``, ``status``, ``detail``, plus
``code`` and an ``errors`` list ``[{index, id, code, message}]``); the valid events of a
partly bad batch are stored all the same, and the problem also carries the counts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, get_tenant
from tallybook.api.errors import retry_after, status_for
from tallybook.api.routes.events import BadRequest, count_outcomes, media_type, parse_json
from tallybook.bootstrap import Container
from tallybook.domain.errors import TallybookError
from tallybook.services.ingest import BatchResult

router = APIRouter(tags=["cloudevents"])

PROBLEM = "application/problem+json"
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}
CLOUDEVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "source", "type", "subject"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 255},
        "source": {"type": "string", "minLength": 1, "maxLength": 255},
        "specversion": {"type": "string", "enum": ["1.0"], "default": "1.0"},
        "type": {"type": "string", "minLength": 1, "maxLength": 255},
        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string"},
        "data": {"type": "object", "additionalProperties": True},
    },
}
_ONE_OR_MANY = {"anyOf": [CLOUDEVENT_SCHEMA, {"type": "array", "items": CLOUDEVENT_SCHEMA}]}
_PROBLEM_DOC = {
    "description": "RFC 7807 problem",
    "content": {PROBLEM: {"schema": {"type": "object"}}},
}
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            SINGLE: {"schema": CLOUDEVENT_SCHEMA},
            BATCH: {"schema": {"type": "array", "items": CLOUDEVENT_SCHEMA}},
            "application/json": {"schema": _ONE_OR_MANY},
        },
    }
}


def problem(
    status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    body = {
        "type": f"urn:tallybook:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM)


def cloudevent_items(kind: str, document: Any) -> list[Any]:
    if kind == SINGLE and type(document) is not dict:
        raise BadRequest(400, "invalid_body", f"{SINGLE} carries one event (a JSON object)")
    if kind == BATCH and type(document) is not list:
        raise BadRequest(400, "invalid_body", f"{BATCH} carries a JSON array of events")
    if type(document) is dict:
        return [document]
    if type(document) is list:
        return document
    raise BadRequest(400, "invalid_body", "body must be a CloudEvent or an array of CloudEvents")


def parse_cloudevents(
    container: Container, tenant: str, body: bytes, items_of: Callable[[Any], list[Any]]
) -> BatchResult:
    """Parse the body and ingest its CloudEvents (in a worker thread, off the loop)."""
    return container.ingest.ingest(tenant, items_of(parse_json(body)), "cloudevents")


def _outcome(result: BatchResult) -> Response:
    if not result.errors:
        return Response(status_code=204)
    everything = result.as_dict()
    errors = everything.pop("errors")
    only_conflicts = result.conflicts == result.rejected
    status, code = (409, "conflict") if only_conflicts else (400, "invalid_events")
    detail = f"{result.rejected} event(s) rejected; the other events were stored"
    return problem(status, code, detail, errors, **everything)


@router.post(
    "/api/v1/events",
    summary="Ingest CloudEvents (OpenMeter compatible)",
    status_code=204,
    responses={
        400: _PROBLEM_DOC,
        401: _PROBLEM_DOC,
        409: _PROBLEM_DOC,
        413: _PROBLEM_DOC,
        415: _PROBLEM_DOC,
    },
    openapi_extra=OPENAPI,
)
async def ingest_cloudevents(request: Request, container: ContainerDep) -> Response:
    kind = media_type(request)
    try:
        tenant = await run_in_threadpool(get_tenant, request, container)
        if kind not in (SINGLE, BATCH, "application/json"):
            raise BadRequest(
                415, "unsupported_media_type", f"send {SINGLE}, {BATCH} or application/json"
            )
        body = await request.body()
        items_of = functools.partial(cloudevent_items, kind)
        result = await run_in_threadpool(parse_cloudevents, container, tenant, body, items_of)
    except BadRequest as bad:
        return problem(bad.status, bad.code, bad.message)
    except TallybookError as exc:
        answer = problem(status_for(exc), exc.code, exc.message, details=exc.details)
        answer.headers.update(retry_after(exc))
        return answer
    count_outcomes(request, result)
    return _outcome(result)
