"""Audit log: entries filtered by actor, action, object and date range (in SQL, 25 per
page, ``AuditService.list``), as CSV, and the "verify chain" check (``AuditService.verify``:
the first broken entry when the chain does not hold). Every console role may read it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.console import lists, nav, web
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.domain.governance.audit import AuditEntry
from tallybook.domain.periods import parse_instant
from tallybook.services.pagination import Page

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("audit", "Audit log", "/console/audit"))
MAX_CSV_ROWS = 100_000
Text = Annotated[str | None, Query(max_length=200)]
Day = Annotated[str | None, Query(max_length=32)]
FILTERS = ("actor", "action", "object", "from", "to")


def _bound(text: str | None, field: str, *, end: bool) -> datetime | None:
    """A date ``YYYY-MM-DD`` (UTC; ``to`` includes its whole day) or an RFC 3339 instant."""
    if not text:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = parse_instant(f"{value}T00:00:00Z")
            return day + timedelta(days=1) if end else day
        return parse_instant(value)
    except TallybookError:
        raise ValidationError(
            f"{field} must be a date YYYY-MM-DD or an RFC 3339 instant",
            code="invalid_instant",
            details={"field": field},
        ) from None


def search(
    container: Container,
    tenant: str,
    filters: dict[str, str | None],
    *,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntry]:
    """A page of entries matching ``filters`` (see the module docstring)."""
    return container.audit.list(
        tenant,
        actor=filters.get("actor") or None,
        action=filters.get("action") or None,
        object=filters.get("object") or None,
        start=_bound(filters.get("from"), "from", end=False),
        end=_bound(filters.get("to"), "to", end=True),
        limit=limit,
        cursor=cursor,
    )


def _compact(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)


def _filters(
    actor: Text = None,
    action: Text = None,
    object: Annotated[str | None, Query(max_length=500)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
) -> dict[str, str | None]:
    """The log's filters, as the page and its CSV take them (``FILTERS``)."""
    return {"actor": actor, "action": action, "object": object, "from": start, "to": end}


Filters = Annotated[dict[str, str | None], Depends(_filters)]


@router.get("/audit")
def audit(
    request: Request,
    container: ContainerDep,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The filtered audit log, oldest first."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return _page(request, container, who, filters, cursor)


def _page(
    request: Request,
    container: Container,
    who: web.Operator,
    filters: dict[str, str | None],
    cursor: str | None,
    **context: Any,
) -> Response:
    def read(limit: int, after: str | None) -> Page[AuditEntry]:
        return search(container, who.tenant_id, filters, limit=limit, cursor=after)

    return lists.list_page(
        request, container, who, template="audit.html", path="/console/audit", active="audit",
        filters=filters, cursor=cursor, read=read, compact=_compact, **context,
    )  # fmt: skip


@router.get("/audit/verify")
def verify(request: Request, container: ContainerDep) -> Response:
    """Recompute the chain; the page says ok, or names the first broken entry."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    result = container.audit.verify(who.tenant_id)
    filters: dict[str, str | None] = dict.fromkeys(FILTERS)
    return _page(request, container, who, filters, None, verification=result)


@router.get("/audit.csv")
def audit_csv(request: Request, container: ContainerDep, filters: Filters) -> Response:
    """The filtered entries (up to ``MAX_CSV_ROWS``) as CSV, read page by page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()

    def read(limit: int, cursor: str | None) -> Page[AuditEntry]:
        return search(container, who.tenant_id, filters, limit=limit, cursor=cursor)

    def row(e: AuditEntry) -> list[Any]:
        return [
            e.seq, e.at.isoformat(), e.actor, e.actor_key, e.action, e.object,
            e.reason, _compact(e.before), _compact(e.after), e.prev_hash, e.hash,
        ]  # fmt: skip

    rows = lists.csv_rows(read, row, max_rows=MAX_CSV_ROWS)  # bad filters: 4xx now
    header = ["seq", "at", "actor", "actor_key", "action", "object", "reason", "before"]
    return web.csv_response("audit.csv", [*header, "after", "prev_hash", "hash"], rows)
