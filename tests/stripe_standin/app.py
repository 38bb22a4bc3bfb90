"""The stand-in's HTTP face: an ASGI app the official SDK talks to through ``api_base``.

- **Auth**: ``Authorization: Bearer sk_test_...`` (401 otherwise).
- **Bodies**: ``application/x-www-form-urlencoded`` with Stripe's bracket notation
  (``metadata[tallybook_invoice]=...``, ``created[gte]=...``), as the SDK encodes them.
- **Idempotency** (Stripe docs, "Idempotent requests"): a POST with ``Idempotency-Key``
  stores its first answer; the same key with the same method, path and parameters replays
  it (``Idempotent-Replayed: true``) without doing anything; the same key with other
  parameters is ``400`` ``idempotency_error``. Keys are scoped to the API key.
- **Faults** (``Fault``): ``timeout`` answers only after ``delay`` seconds *after the
  request has been carried out and its answer stored* (the client times out; Stripe has
  committed), ``500`` fails before doing anything, ``429`` answers ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from tests.stripe_standin.state import Standin, StripeFailure, invalid


@dataclass
class Fault:
    """Applies to the next ``times`` requests matching ``method`` and ``path`` (a regex)."""

    method: str
    path: str
    kind: str  # "timeout" | "500" | "429"
    times: int = 1
    delay: float = 3.0
    retry_after: int = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.times > 0 and method == self.method and re.fullmatch(self.path, path) is not None
        )


@dataclass
class Stored:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class StandinApp:
    """The ASGI app; ``state`` is the account, ``faults`` the injected failures."""

    state: Standin = field(default_factory=Standin)
    faults: list[Fault] = field(default_factory=list)
    idempotency: dict[tuple[str, str], Stored] = field(default_factory=dict)
    replays: int = 0
    rejected_keys: int = 0
    log: list[tuple[str, str, int]] = field(default_factory=list)
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer sk_test_"):
            return _json(
                401,
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
            )
        api_key = auth.removeprefix("Bearer ")
        raw = (await request.body()).decode() if method == "POST" else request.url.query
        params = nested(parse_qsl(raw, keep_blank_values=True))
        self.received.append((method, path, params))
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.times -= 1
            fault.hits += 1
            if fault.kind == "500":
                self.log.append((method, path, 500))
                return _json(
                    500,
                    {"error": {"type": "api_error", "message": "Something went wrong (injected)."}},
                )
            if fault.kind == "429":
                self.log.append((method, path, 429))
                return _json(
                    429,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "rate_limit",
                            "message": "Too many requests (injected).",
                        }
                    },
                    {"Retry-After": str(fault.retry_after)},
                )
        key = request.headers.get("idempotency-key")
        fingerprint = _fingerprint(method, path, params)
        if method == "POST" and key is not None:
            stored = self.idempotency.get((api_key, key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    self.rejected_keys += 1
                    return _json(
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the "
                                "same parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                            }
                        },
                    )
                self.replays += 1
                self.log.append((method, path, stored.status))
                return Response(
                    stored.body,
                    stored.status,
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
        status, body = self._route(method, path, params)
        encoded = json.dumps(body).encode()
        if method == "POST" and key is not None:
            self.idempotency[(api_key, key)] = Stored(fingerprint, status, encoded)
        self.log.append((method, path, status))
        self.state.requests.append((method, path))
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay)  # done and stored: the client gives up meanwhile
        headers = {"Idempotency-Key": key} if key else {}
        return Response(encoded, status, media_type="application/json", headers=headers)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        s = self.state
        try:
            parts = path.strip("/").split("/")
            if parts[:1] != ["v1"]:
                raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404)
            rest = parts[1:]
            match (method, rest):
                case ("POST", ["customers"]):
                    return 200, s.create_customer(params)
                case ("GET", ["customers", "search"]):
                    return 200, s.search(s.customers, params, "/v1/customers/search")
                case ("POST", ["invoiceitems"]):
                    return 200, s.create_item(params)
                case ("POST", ["invoices"]):
                    return 200, s.invoice(s.create_invoice(params)["id"])
                case ("GET", ["invoices"]):
                    return 200, s.list_invoices(params)
                case ("GET", ["invoices", "search"]):
                    found = s.search(s.invoices, params, "/v1/invoices/search")
                    found["data"] = [s.invoice(i["id"]) for i in found["data"]]
                    return 200, found
                case ("GET", ["invoices", invoice_id]):
                    return 200, s.invoice(invoice_id)
                case ("GET", ["invoices", invoice_id, "lines"]):
                    return 200, s.list_lines(invoice_id, params)
                case ("POST", ["invoices", invoice_id, "finalize"]):
                    return 200, s.finalize(invoice_id, params)
                case ("POST", ["invoices", invoice_id, "void"]):
                    return 200, s.void(invoice_id)
            raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404)
        except StripeFailure as failure:
            return failure.status, failure.body


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding to nested dicts: ``a[b]=1`` -> ``{"a": {"b": "1"}}``;
    ``a[0]=x`` -> ``{"a": {"0": "x"}}`` (lists stay index-keyed: none are used here)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        names = re.findall(r"[^\[\]]+", key)
        target = out
        for name in names[:-1]:
            target = target.setdefault(name, {})
        if names:
            target[names[-1]] = value
    return out


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    text = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, media_type="application/json", headers=headers)
