"""OpenMeter-compatible meter query: ``GET /api/v1/meters/{slug}/query``.

Parameters and the response follow OpenMeter's API (``MeterQueryResult`` and
``MeterQueryRow`` of the ``openmeter`` SDK): ``from``, ``to``, ``windowSize``
(MINUTE | HOUR | DAY | MONTH), ``windowTimeZone``, ``subject`` (repeatable; also
``filterCustomerId``), ``groupBy`` (repeatable) and ``filterGroupBy[name]=value``.
Rows carry ``value`` (a JSON number written from the exact decimal), ``windowStart``,
``windowEnd``, ``subject`` and ``groupBy``; windows without events are left out.

Differences from OpenMeter: rows are always per subject (Tallybook's customer), also
when no subject is asked for; ``from`` defaults to the Unix epoch and ``to`` to now.
Errors are ``application/problem+json``.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.errors import status_for
from tallybook.api.responses import iso
from tallybook.api.routes.meters import query_instant, split_names, window_size
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.services.usage import UsageReport

router = APIRouter(tags=["openmeter"])

PROBLEM = "application/problem+json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILTER_GROUP_BY = re.compile(r"filterGroupBy\[(.+)\]")
_ROW_SCHEMA = {
    "type": "object",
    "required": ["value", "windowStart", "windowEnd", "subject", "groupBy"],
    "properties": {
        "value": {"type": "number"},
        "windowStart": {"type": "string", "format": "date-time"},
        "windowEnd": {"type": "string", "format": "date-time"},
        "subject": {"type": "string"},
        "groupBy": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "MeterQueryResult",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": "string", "format": "date-time"},
                        "windowSize": {"type": ["string", "null"]},
                        "data": {"type": "array", "items": _ROW_SCHEMA},
                    },
                }
            }
        },
    },
    "4XX": {
        "description": "RFC 7807 problem",
        "content": {PROBLEM: {"schema": {"type": "object"}}},
    },
}


def _query(name: str, description: str, *, repeat: bool = False) -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string", "maxLength": 255}
    schema = {"type": "array", "items": text} if repeat else text
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


# Read by hand from ``request.query_params``; declared here for the docs and for the
# app-wide unknown-parameter check (``tallybook.api.hygiene``).
_PARAMETERS = [
    _query("from", "Start (RFC 3339, inclusive); default the Unix epoch"),
    _query("to", "End (RFC 3339, exclusive); default now"),
    _query("windowSize", "MINUTE | HOUR | DAY | MONTH"),
    _query("windowTimeZone", "IANA time zone of the windows (default UTC)"),
    _query("subject", "A customer id (repeatable)", repeat=True),
    _query("filterCustomerId", "A customer id (repeatable)", repeat=True),
    _query("groupBy", "A group-by property (repeatable)", repeat=True),
    _query("filterGroupBy", "JSON object of group-by values; also filterGroupBy[name]=value"),
    _query("clientId", "OpenMeter's client id for query caching; accepted and ignored"),
]


@router.get(
    "/api/v1/meters/{slug}/query",
    summary="Query a meter (OpenMeter-compatible)",
    responses=_RESPONSES,
    openapi_extra={
        "parameters": _PARAMETERS,
        "x-query-name-patterns": [_FILTER_GROUP_BY.pattern],
    },
)
def query_meter(
    slug: str, request: Request, tenant: TenantDep, container: ContainerDep
) -> Response:
    params = request.query_params
    try:
        size = window_size(params.get("windowSize"))
        start = query_instant("from", params["from"]) if "from" in params else _EPOCH
        end = query_instant("to", params["to"]) if "to" in params else container.clock.now()
        subjects = params.getlist("subject") + params.getlist("filterCustomerId")
        filters = group_filters(params.multi_items())
        report = container.usage.report(
            tenant,
            slug,
            start,
            end,
            window=size,
            tz=params.get("windowTimeZone") or "UTC",
            customers=subjects or None,
            group_by=split_names(params.getlist("groupBy")),
            filters=filters,
            fill=False,
        )
    except TallybookError as exc:  # OpenMeter answers bad parameters with 400
        status = status_for(exc)
        return problem(400 if status == 422 else status, exc.code, exc.message, exc.details)
    return Response(
        render(report, size.value.upper() if size else None), media_type="application/json"
    )


def group_filters(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``filterGroupBy[model]=a`` (OpenMeter's deepObject form), or one ``filterGroupBy``
    holding a JSON object (the ``openmeter`` SDK sends ``{'model': 'a'}``)."""
    filters: dict[str, list[str]] = {}
    for name, value in items:
        match = _FILTER_GROUP_BY.fullmatch(name)
        if match:
            filters.setdefault(match.group(1), []).append(value)
        elif name == "filterGroupBy":
            for key, allowed in _mapping(value).items():
                filters.setdefault(key, []).append(allowed)
    return filters


def _mapping(text: str) -> dict[str, str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text) if len(text) <= 4096 else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise ValidationError(
            'filterGroupBy must map group-by names to values, e.g. {"model": "gpt-4o"}',
            code="invalid_filter",
            details={"filterGroupBy": text[:200]},
        )
    return parsed


def render(report: UsageReport, window: str | None) -> bytes:
    """The OpenMeter body; values are JSON numbers written from their exact decimals."""
    marker = f"tbdec{secrets.token_hex(8)}:"
    data = [
        {
            "value": f"{marker}{value:f}",
            "windowStart": iso(period.start),
            "windowEnd": iso(period.end),
            "subject": series.customer,
            "groupBy": dict(series.group),
        }
        for series in report.series
        for period, value in series.values
        if value is not None
    ]
    body = {"from": iso(report.start), "to": iso(report.end), "windowSize": window, "data": data}
    text = orjson.dumps(body)
    return re.sub(rb'"' + marker.encode() + rb'(-?[0-9.]+)"', rb"\1", text)


def problem(status: int, code: str, detail: str, details: dict[str, Any] | None = None) -> Response:
    body = {
        "type": f"urn:tallybook:problem:{code}",
        "title": "Not Found" if status == 404 else "Bad Request",
        "status": status,
        "detail": detail,
        "code": code,
        "details": details or {},
    }
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM)
