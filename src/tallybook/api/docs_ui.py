"""``/docs``: Swagger UI for ``/openapi.json``, served from this process, no CDN.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN and starts it with an inline
script; both break a strict Content-Security-Policy and the rule that nothing is fetched
from a third party at run time. Here the assets are the Swagger UI 5 build shipped in the ``fastapi-offline``
package (installed from PyPI, never copied into this repository; only its static files are
used), served under ``/docs/assets/``, and the start-up code is a local script, so the page
runs under ``DOCS_CSP`` (``script-src 'self'``, no inline code). ReDoc (``/redoc``) is
served by ``console.redoc`` from npm, with a CSP of its own (its renderer needs inline styles).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from tallybook.api.security_headers import DOCS_CSP
from tallybook.domain.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
INIT_JS = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tallybook API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"""


@cache
def _bundle() -> Traversable:
    return resources.files("fastapi_offline").joinpath("static")


@cache
def _asset(name: str) -> bytes:
    return _bundle().joinpath(name).read_bytes()


@router.get("/docs")
def docs() -> HTMLResponse:
    """The Swagger UI page."""
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    """One Swagger UI asset of the package (a fixed list), or our start-up script."""
    cache_control = {"Cache-Control": "public, max-age=86400"}
    if name == "init.js":
        return Response(INIT_JS, media_type="text/javascript; charset=utf-8", headers=cache_control)
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}", code="not_found")
    return Response(_asset(name), media_type=ASSETS[name], headers=cache_control)
