"""``/redoc``: ReDoc for ``/openapi.json``, served from this process, no CDN.

The ReDoc standalone bundle comes from npm (``redoc`` in ``package.json``, installed by
``npm ci``; located by ``console.assets``, which serves the console's npm assets too) and is served at
``/redoc/redoc.standalone.js``; the start-up code is a local script. ReDoc renders with
styled-components, which injects ``<style>`` elements, and runs its search in a worker
made from a ``blob:`` URL, so this page alone allows ``style-src 'unsafe-inline'`` and
``worker-src blob:``; scripts stay ``'self'`` only. Without the npm assets the page says
how to install them. The bundle's one hard-coded remote URL (the Redocly logo in the
sidebar footer, fetched from ``cdn.redoc.ly``) is replaced, when served, by an empty
inline image, so the page makes no request to a third party and reports no CSP violation.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from tallybook.console import assets
from tallybook.domain.errors import NotFound

router = APIRouter(include_in_schema=False)

BUNDLE = "redoc.standalone.js"
REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
REDOC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
INIT_JS = """\
window.addEventListener("load", function () {
  Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
});
"""
PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tallybook API (ReDoc)</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="redoc"></div>
<script src="/redoc/redoc.standalone.js"></script>
<script src="/redoc/init.js"></script>
</body>
</html>
"""
MISSING = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tallybook API (ReDoc)</title></head>
<body><main><h1>ReDoc is not installed</h1>
<p role="alert">The ReDoc bundle comes from npm: run <code>npm ci</code> (or
<code>make install</code>) in the repository. Swagger UI at <a href="/docs">/docs</a>
works without it.</p></main></body></html>
"""


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """The ReDoc page (or how to install it when the npm bundle is missing)."""
    if assets.missing((BUNDLE,)):
        return HTMLResponse(
            MISSING, status_code=503, headers={"Content-Security-Policy": REDOC_CSP}
        )
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": REDOC_CSP})


@router.get("/redoc/{name}")
def redoc_asset(name: str) -> Response:
    """The ReDoc bundle from ``node_modules``, or our start-up script."""
    cache_control = {"Cache-Control": "public, max-age=86400"}
    if name == "init.js":
        return Response(INIT_JS, media_type="text/javascript; charset=utf-8", headers=cache_control)
    body = _bundle() if name == BUNDLE else None
    if body is None:
        raise NotFound(f"no documentation asset {name!r}", code="not_found")
    return Response(body, media_type=assets.media_type(BUNDLE), headers=cache_control)


@cache
def _bundle() -> bytes | None:
    body = assets.read(BUNDLE)
    return None if body is None else body.replace(REMOTE_LOGO, EMPTY_IMAGE)
