"""Security headers on every response, and the Content-Security-Policy of each kind of page.

``SecurityHeaders`` (ASGI middleware) adds to every response that does not set them itself:

- ``Content-Security-Policy``: ``API_CSP`` by default (JSON, PDF: nothing may load, run or
  frame it); HTML routes set their own: ``PAGE_CSP`` (portal pages: the local stylesheet
  and same-origin scripts only: Chart.js and ``portal.js``, no inline code),
  ``invoice_csp`` (the self-contained invoice page: its
  embedded stylesheet and print script by SHA-256 hash) and ``DOCS_CSP`` (Swagger UI
  served from a package, ``api.docs_ui``);
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (with CSP
  ``frame-ancestors 'none'`` for browsers that read only one of them),
  ``Referrer-Policy: same-origin`` and ``Cross-Origin-Opener-Policy: same-origin``.

Rules follow the OWASP Secure Headers Project and MDN's CSP guide (hash sources for
inline elements, ``frame-ancestors`` superseding ``X-Frame-Options``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tallybook.documents.csp import LOCKED as _LOCKED
from tallybook.documents.csp import invoice_csp as invoice_csp
from tallybook.documents.csp import source_hash as source_hash

API_CSP = f"default-src 'none'; form-action 'none'; {_LOCKED}"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"form-action 'self'; {_LOCKED}"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self'; form-action 'none'; {_LOCKED}"
)

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: ``COMMON`` headers and ``API_CSP`` on every HTTP response, unless
    the route already set that header (HTML routes set their own policy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._defaults = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in {**COMMON, "content-security-policy": API_CSP}.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self._defaults if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
