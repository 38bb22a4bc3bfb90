"""``/console``: login by API key (any key with a reading role: ``console.roles``),
logout and assets.

Each page module in ``PAGE_MODULES`` exposes a ``router`` and registers its menu entry in
``nav.NAV`` when imported; ``router`` here includes ``own`` (these routes) and them all.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.auth import clear_login, cookie_key, cross_site, set_login
from tallybook.api.deps import ContainerDep
from tallybook.console import assets, roles, web
from tallybook.documents.templating import static_text
from tallybook.domain.errors import NotFound, Unauthorized

PAGE_MODULES = (
    "tallybook.console.overview",
    "tallybook.console.customers",
    "tallybook.console.customer_actions",
    "tallybook.console.invoices",
    "tallybook.console.operations",
    "tallybook.console.experiments",
    "tallybook.console.catalog",
    "tallybook.console.change_editor",
    "tallybook.console.approvals",
    "tallybook.console.audit",
    "tallybook.console.experiment_arms",
)
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}

own = APIRouter(prefix="/console", include_in_schema=False)
EXCEPTION_HANDLERS = web.EXCEPTION_HANDLERS  # registered by ``api.app``: the 403 page


@own.get("/static/{name}")
def static(name: str) -> Response:
    """The console's own stylesheet and script (packaged with ``tallybook.console``)."""
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}", code="not_found")
    return Response(
        static_text(name, web.CONSOLE),
        media_type=STATIC[name],
        headers={"Cache-Control": "max-age=3600"},
    )


@own.get("/assets/{name}")
def asset(name: str) -> Response:
    """A browser library from ``node_modules`` (``console.assets``); 404 when absent."""
    body = assets.read(name)
    if body is None:
        raise NotFound(
            f"console asset {name!r} is not installed: run `npm ci` in the repository",
            code="not_found",
        )
    return Response(
        body, media_type=assets.media_type(name), headers={"Cache-Control": "max-age=86400"}
    )


@own.get("/login")
def login_page(request: Request, container: ContainerDep) -> Response:
    if web.operator(request, container) is not None:
        return RedirectResponse("/console", status_code=303)
    return web.render("login.html", request=request)


@own.post("/login")
async def login(request: Request, container: ContainerDep) -> Response:
    """Open a session for an API key with a reading role; 401 for an unknown key, 403 for
    an ``ingest``-only key."""
    if cross_site(request):
        return web.render(
            "login.html", request=request, status=403, error="Log in from this site's own page."
        )
    body = await request.body()
    form = parse_qs(body[: web.MAX_FORM_BYTES].decode("utf-8", "replace"))
    key = (form.get("api_key") or [""])[0].strip()
    try:
        identity = container.tenants.identify(key)
    except Unauthorized:
        return web.render(
            "login.html", request=request, status=401, error="That API key is not valid."
        )
    if not roles.may_log_in(identity.roles):
        return web.render(
            "login.html",
            request=request,
            status=403,
            error="The console needs a key with a reading role (viewer, billing, "
            "pricing_editor, pricing_approver or admin).",
        )
    sessions = container.portal_sessions
    token = sessions.start(key)
    response = RedirectResponse("/console", status_code=303)
    set_login(response, request, token, int(sessions.ttl.total_seconds()))
    return response


@own.post("/logout")
async def logout(request: Request, container: ContainerDep) -> Response:
    """End the session (needs the page's CSRF token)."""
    if await web.form(request) is None:
        return RedirectResponse("/console", status_code=303)
    container.portal_sessions.end(cookie_key(request))
    response = web.to_login()
    clear_login(response, request)
    return response


router = APIRouter()
router.include_router(own)
for _name in PAGE_MODULES:
    router.include_router(importlib.import_module(_name).router)
