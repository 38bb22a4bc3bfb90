"""Request hygiene for every route, as one app-wide dependency driven by what each route declares.

- **Query parameters**: a name the route does not declare is refused with
  ``400 unknown_parameter`` (``details: {"unknown": [...], "allowed": [...]}``), so a typo or
  an unsupported filter (``/v1/customers?emial=x``) never silently lists everything.
  Declared means a ``Query`` parameter of the endpoint or of its dependencies, or a query
  parameter written in the route's ``openapi_extra["parameters"]`` (routes that read
  ``request.query_params`` by hand document their names there). A route may also accept
  families of names with ``openapi_extra["x-query-name-patterns"]`` (regular expressions,
  e.g. OpenMeter's ``filterGroupBy[key]``).
- **Content types**: a route whose JSON body FastAPI parses (a pydantic body model) refuses a
  non-empty body that is not ``application/json`` (or ``+json``) with
  ``415 unsupported_media_type``, instead of a confusing ``422``. Routes that read their body
  by hand (events, catalog documents) check their own media types the same way.

Errors are raised as :class:`tallybook.api.errors.HttpError` and rendered by the one error
handler. The per-route rules are computed once per route object and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from tallybook.api.errors import HttpError

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class RouteRules:
    """What one route accepts: query names, name patterns and whether it parses a JSON body."""

    query: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    json_body: bool

    def allows(self, name: str) -> bool:
        return name in self.query or any(p.fullmatch(name) for p in self.patterns)


_CACHE_ATTRIBUTE = "_tallybook_rules"  # kept on the route object: lives and dies with it


def route_rules(route: APIRoute) -> RouteRules:
    """The declared query names and body kind of ``route`` (cached per route object)."""
    cached = getattr(route, _CACHE_ATTRIBUTE, None)
    if isinstance(cached, RouteRules):
        return cached
    names = {field.alias for field in get_flat_params(route.dependant) if _is_query(field)}
    extra: dict[str, Any] = route.openapi_extra or {}
    for param in extra.get("parameters", ()):
        if param.get("in") == "query":
            names.add(str(param["name"]))
    patterns = tuple(re.compile(p) for p in extra.get("x-query-name-patterns", ()))
    json_body = route.body_field is not None and not _is_form(route)
    rules = RouteRules(frozenset(names), patterns, json_body)
    setattr(route, _CACHE_ATTRIBUTE, rules)
    return rules


def _is_query(field: Any) -> bool:
    info = getattr(field, "field_info", None)
    return isinstance(info, params.Query)


def _is_form(route: APIRoute) -> bool:
    info = getattr(route.body_field, "field_info", None)
    return isinstance(info, params.Form)


async def request_hygiene(request: Request) -> None:
    """App-wide dependency: refuse undeclared query parameters and wrong body media types."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    rules = route_rules(route)
    unknown = sorted({name for name in request.query_params if not rules.allows(name)})
    if unknown:
        raise HttpError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown[:10])}; "
            f"this endpoint accepts: {', '.join(sorted(rules.query)) or 'none'}",
            {"unknown": unknown[:10], "allowed": sorted(rules.query)},
        )
    if rules.json_body and request.method in _BODY_METHODS and _has_body(request):
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not is_json_media(media):
            raise HttpError(
                415,
                "unsupported_media_type",
                f"send Content-Type: application/json, not {media or 'nothing'}",
                {"content_type": media[:100]},
            )


def is_json_media(media: str) -> bool:
    """``application/json`` or any ``application/...+json`` type."""
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers
