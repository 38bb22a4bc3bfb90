"""Request-size guard: a pure ASGI middleware that answers 413 before a large body is
buffered, whether the client sent Content-Length or streamed chunks.

Event ingestion (``LARGE_PATHS``) may send up to ``max_bytes``; every other endpoint
(catalog documents, customers, ...) up to ``document_bytes``, which bounds the CPU any
one request can spend parsing and validating its body; the seller's logo upload up to
twice its own limit (``domain.finance.logos``), which its route then enforces."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tallybook.api.errors import error_body
from tallybook.api.responses import JsonResponse
from tallybook.domain.finance.logos import MAX_LOGO_BYTES


class _TooLarge(Exception):
    pass


LARGE_PATHS = frozenset({"/v1/events", "/api/v1/events"})
# the logo upload reads up to twice the logo limit, so a logo somewhat too large gets the
# route's own ``413 logo_too_large`` (with its limit) rather than the generic answer
LOGO_PATH, LOGO_READ_BYTES = "/v1/tenant/logo", 2 * MAX_LOGO_BYTES


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, document_bytes: int | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.document_bytes = max_bytes if document_bytes is None else document_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if scope.get("path") in LARGE_PATHS else self.document_bytes
        if scope.get("path") == LOGO_PATH:
            limit = max(limit, LOGO_READ_BYTES)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._reject(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        body = error_body(
            "payload_too_large", f"request body exceeds {limit} bytes", {"max_bytes": limit}
        )
        await JsonResponse(body, status_code=413)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    headers: Any = scope.get("headers") or []
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
