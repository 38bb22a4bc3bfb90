"""Every successful mutating API call becomes an audit entry (CONTRACT.md, governance).

``AuditHook`` is ASGI middleware inside the error handlers: for ``POST``, ``PUT``,
``PATCH`` and ``DELETE`` under ``/v1`` (and ``/api/v1``) it holds the response back, and
when the status is 2xx it records, before the client sees the answer,

- ``actor``: the key's name (``request.state.key_name``, set by ``api.deps.get_tenant``),
  ``actor_key`` its id;
- ``action``: ``METHOD route-template`` (``POST /v1/subscriptions/{subscription_id}/change``);
- ``object``: the resource path without ``/v1/`` (``subscriptions/sub_1``; a create adds
  the new ``id`` or ``key``; an action suffix such as ``/cancel`` is dropped);
- ``before``: the resource as an in-process ``GET`` of the object's path showed it just
  before a ``PATCH``, ``PUT``, ``DELETE`` or ``POST .../{action}`` (``_before``; None for
  creates, or when that GET is not a 200), unless the route set
  ``request.state.audit_before``. It is a snapshot taken just before the call, not in
  the call's transaction;
- ``after``: the JSON answer, secrets redacted (``domain.governance.audit.redacted``);
- ``reason``: ``request.state.audit_reason`` (routes whose body has a ``reason``).

Routes without an API key are recorded only when they name the tenant and actor
themselves: the Stripe webhook sets ``tenant``, ``key_name`` (``stripe``) and
``audit_object`` (``invoices/<id>``) when it marked an invoice paid.

Not audited (docs/governance.md): event ingestion (``POST /v1/events``,
``/api/v1/events``: usage data, kept append-only with ``received_at`` in the event store)
and read-only computations sent as POST (the allowance model). The entry is written
after the mutation's own commit; if the append fails the failure is logged and the
answer is still given (the mutation happened).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tallybook.domain.governance.audit import AuditRecord, redacted

log = logging.getLogger("tallybook.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_AUDITED = frozenset(
    {
        ("POST", "/v1/events"),
        ("POST", "/api/v1/events"),
        ("POST", "/v1/analytics/allowance-model"),
        ("POST", "/v1/analytics/allowance-model.csv"),
    }
)
ACTIONS = frozenset(
    {
        "change",
        "quantities",
        "cancel",
        "archive",
        "void",
        "pay",
        "approve",
        "reject",
        "replay",
        "discard",
        "rotate-secret",
        "enable",
        "disable",
        "retry",
        "stop",
        "rollback",
    }
)
Record = Callable[[str, AuditRecord], object]


def audit_object(template: str, path: str, answer: Any, method: str) -> str:
    """The audited object of a call (see the module docstring)."""
    for prefix in ("/api/v1/", "/v1/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    parts = path.strip("/").split("/")
    last_template = template.rstrip("/").rsplit("/", 1)[-1]
    if parts and parts[-1] in ACTIONS and not last_template.startswith("{"):
        return "/".join(parts[:-1])
    if method == "POST" and not last_template.startswith("{") and isinstance(answer, dict):
        ident = answer.get("id", answer.get("key"))
        if isinstance(ident, str):
            return "/".join([*parts, ident])
    return "/".join(parts)


class AuditHook:
    """ASGI middleware recording successful mutations through ``record`` (called in a
    worker thread with the tenant and the record)."""

    def __init__(self, app: ASGIApp, record: Record) -> None:
        self.app = app
        self._record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in MUTATING
            or not path.startswith(("/v1/", "/api/v1/"))
        ):
            await self.app(scope, receive, send)
            return
        before = await self._before(scope)
        held: list[Message] = []
        body: list[bytes] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            held.append(message)
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._after(scope, held[0], b"".join(body), before)
            for item in held:
                await send(item)
            held.clear()

        await self.app(scope, receive, hold)
        for item in held:  # a response that never finished its body
            await send(item)

    async def _before(self, scope: Scope) -> Any:
        """The resource as ``GET`` shows it just before an update, replacement, deletion
        or action (``PATCH``, ``PUT``, ``DELETE``, ``POST .../{action}``): an in-process
        GET of the object's path with the caller's own key (so its roles apply). None for
        a create, or when the GET is not a 200 JSON answer."""
        path = str(scope.get("path", ""))
        raw = bytes(scope.get("raw_path") or quote(path).encode("ascii"))
        parts = path.rstrip("/").split("/")
        method = scope.get("method")
        if method == "POST":
            if len(parts) < 5 or parts[-1] not in ACTIONS:
                return None
            path = "/".join(parts[:-1])
            raw = raw.rstrip(b"/").rsplit(b"/", 1)[0]
        elif path in ("/v1/events", "/api/v1/events"):
            return None
        keep = {b"authorization", b"x-api-key", b"host"}
        sub: dict[str, Any] = {
            **{k: v for k, v in scope.items() if k not in ("route", "path_params", "state")},
            "method": "GET",
            "path": path,
            "raw_path": raw,
            "query_string": b"",
            "headers": [(k, v) for k, v in scope.get("headers", []) if k in keep],
        }
        start: list[Message] = []
        chunks: list[bytes] = []

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(sub, nothing, collect)
        except Exception:  # a snapshot is best effort; the call itself goes on
            log.exception("audit snapshot failed for GET %s", path)
            return None
        if not start or int(start[0].get("status", 500)) != 200:
            return None
        return redacted(_json(start[0], b"".join(chunks)))

    async def _after(self, scope: Scope, start: Message, body: bytes, before: Any) -> None:
        status = int(start.get("status", 500))
        state: dict[str, Any] = scope.get("state") or {}
        tenant = state.get("tenant")
        route = scope.get("route")
        template = getattr(route, "path", None)
        method = str(scope.get("method"))
        if not 200 <= status < 300 or tenant is None or template is None:
            return
        if (method, template) in NOT_AUDITED:
            return
        answer = _json(start, body)
        record = AuditRecord(
            actor=str(state.get("key_name") or state.get("key_id") or "unknown"),
            actor_key=str(state.get("key_id") or ""),
            action=f"{method} {template}",
            object=state.get("audit_object")
            or audit_object(template, str(scope.get("path", "")), answer, method),
            before=state.get("audit_before", before),
            after=redacted(answer),
            reason=state.get("audit_reason"),
        )
        try:
            await to_thread.run_sync(self._record, tenant, record)
        except Exception:  # the mutation is committed: answer anyway, and say so loudly
            log.exception("audit append failed for %s %s", method, template)


def _json(start: Message, body: bytes) -> Any:
    headers = dict(start.get("headers", []))
    media = headers.get(b"content-type", b"").split(b";")[0].strip()
    if media != b"application/json" or not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
