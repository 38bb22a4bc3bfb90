"""Security headers on every response, and the Content-Security-Policy of each kind of page.

``SecurityHeaders`` (ASGI middleware) adds to every response that does not set them itself:

- ``Content-Security-Policy``: ``API_CSP`` by default (JSON, PDF: nothing may load, run or
  frame it); HTML routes set their own: ``PAGE_CSP`` (portal pages: the local stylesheet
  and inline SVG only, no script), ``invoice_csp`` (the self-contained invoice page: its
  embedded stylesheet and print script by SHA-256 hash) and ``DOCS_CSP`` (Swagger UI
  served from a package, ``api.docs_ui``);
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (with CSP
  ``frame-ancestors 'none'`` for browsers that read only one of them),
  ``Referrer-Policy: same-origin`` and ``Cross-Origin-Opener-Policy: same-origin``.

Rules follow the OWASP Secure Headers Project and MDN's CSP guide (hash sources for
inline elements, ``frame-ancestors`` superseding ``X-Frame-Options``).
"""

from __future__ import annotations

import base64
import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LOCKED = "base-uri 'none'; frame-ancestors 'none'"
API_CSP = f"default-src 'none'; form-action 'none'; {_LOCKED}"
PAGE_CSP = (
    f"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; {_LOCKED}"
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


def source_hash(text: str) -> str:
    """The CSP hash source of an inline ``<style>`` or ``<script>`` body: ``'sha256-...'``.

    The hash covers the exact characters between the tags (CSP Level 2, section 4.2.4).
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def invoice_csp(style: str, script: str) -> str:
    """The policy of a self-contained HTML page whose only inline style and script are
    ``style`` and ``script`` (the invoice page): everything else is refused."""
    return (
        f"default-src 'none'; style-src {source_hash(style)}; script-src {source_hash(script)}; "
        f"img-src 'self' data:; form-action 'self'; {_LOCKED}"
    )


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
