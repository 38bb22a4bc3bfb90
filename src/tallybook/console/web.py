"""What every console page shares: the logged-in admin, rendering, CSRF, CSV and pages.

Login reuses the portal's server-side sessions (``services.portal_sessions``, cookie from
``api.auth``: a random token, ``HttpOnly``, ``SameSite=Strict``, only its SHA-256 stored),
and on every request the console reads the roles of the key the session was opened with:
``operator`` answers only for a key with a reading role, and raises ``Refused`` (a 403
page, ``refused_page``) when the roles may not use the matched route (``console.roles``:
the API's own role table). Every POST form carries the session's anti-CSRF token and is
refused from another site.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tallybook.api.access import allowed_roles
from tallybook.api.auth import cookie_key, cross_site, page_csrf
from tallybook.bootstrap import Container
from tallybook.console import assets, nav, roles
from tallybook.documents.templating import environment
from tallybook.services.portal_sessions import csrf_ok

CONSOLE = "tallybook.console"
PAGE_SIZE = 25
MAX_FORM_BYTES = 16_384
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CONSOLE_CSP}
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Operator:
    """The logged-in console user: tenant, key id, the key's roles and name (the audit
    log's actor)."""

    tenant_id: str
    key_id: str
    roles: tuple[str, ...]
    name: str = ""

    def can(self, method: str, api_route: str) -> bool:
        """True when this key's roles may call ``method api_route`` (an API route
        template, ``api.access``): templates show an action only when it is allowed."""
        return roles.allows(self.roles, method, api_route)


class Refused(Exception):
    """The logged-in key's roles may not use this console route (a 403 page)."""

    def __init__(self, who: Operator, method: str, route: str):
        super().__init__(f"{method} {route}")
        self.who = who
        self.call = roles.api_call(method, route)


def operator(request: Request, container: Container) -> Operator | None:
    """The console user behind the session cookie, or None (no session, or a key without
    a reading role). Raises ``Refused`` when its roles may not use the matched route."""
    found = container.portal_sessions.identity(cookie_key(request))
    if found is None or not roles.may_log_in(found.roles):
        return None
    who = Operator(found.tenant_id, found.key_id, found.roles, found.name or found.key_id)
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    if not roles.allowed_on(who.roles, request.method, route):
        raise Refused(who, request.method, route)
    return who


def refused_page(request: Request, exc: Exception) -> HTMLResponse:
    """The 403 page of ``Refused``: which roles the page or action needs."""
    assert isinstance(exc, Refused)
    container: Container = request.app.state.container
    method, api_route = exc.call
    needed = sorted({ADMIN, *(allowed_roles(method, api_route) or ())})
    return render(
        "message.html",
        request=request,
        container=container,
        who=exc.who,
        status=403,
        title="Not allowed for your roles",
        message=(
            f"Your key's roles ({', '.join(exc.who.roles)}) do not allow this page or "
            f"action; it needs one of: {', '.join(needed)}."
        ),
        back="/console",
        refused=True,
    )


EXCEPTION_HANDLERS = {Refused: refused_page}


def to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def render(
    template: str,
    *,
    request: Request,
    container: Container | None = None,
    who: Operator | None = None,
    active: str = "",
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page: layout with the nav of ``who``'s roles, the CSRF token and a notice
    when the node assets are missing."""
    tenant_name = ""
    if who is not None and container is not None:
        tenant_name = container.tenants.name(who.tenant_id)
    html = (
        environment(CONSOLE)
        .get_template(template)
        .render(
            csrf=page_csrf(request) if who is not None else "",
            who=who,
            nav=nav.visible(who.roles) if who is not None else [],
            active=active,
            tenant_name=tenant_name,
            missing_assets=assets.missing(),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


async def form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str] | None:
    """The posted form (first value per field) when it is same-site, within ``max_bytes``
    and carries this session's CSRF token; None otherwise (the caller refuses with 403)."""
    body = await request.body()
    if len(body) > max_bytes or cross_site(request):
        return None
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
    if not csrf_ok(cookie_key(request), fields.get("csrf")):
        return None
    return fields


def forbidden(request: Request, container: Container, who: Operator) -> HTMLResponse:
    return render(
        "message.html",
        request=request,
        container=container,
        who=who,
        status=403,
        title="Refused",
        message="The form was not sent from this console page (missing or wrong CSRF token).",
    )


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A table as CSV (a download named ``filename``); values as ``str`` (no float)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def link(path: str, **params: str | None) -> str:
    """``path`` with the non-empty ``params`` as a query string."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path
