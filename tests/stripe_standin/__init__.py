"""A small stateful Stripe stand-in for tests (issue 11): Stripe is unreachable here,
``stripe-mock`` is stateless and ``localstripe`` ignores idempotency keys, so this
answers the calls Tallybook makes the way Stripe documents them (``state``, ``app``),
served by uvicorn on 127.0.0.1 in a thread (``running_standin``). ``signed_event``
builds a webhook request signed like Stripe's (``Stripe-Signature: t=...,v1=...``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests.live_server import free_port
from tests.stripe_standin.app import Fault, StandinApp
from tests.stripe_standin.state import Standin

__all__ = [
    "API_KEY",
    "WEBHOOK_SECRET",
    "Fault",
    "Running",
    "Standin",
    "StandinApp",
    "running_standin",
    "signed_event",
]

API_KEY = "sk_test_standin_0123456789"
WEBHOOK_SECRET = "whsec_standin_test_secret_0123456789"


@dataclass
class Running:
    app: StandinApp
    url: str

    @property
    def state(self) -> Standin:
        return self.app.state


@contextmanager
def running_standin(app: StandinApp | None = None) -> Iterator[Running]:
    """Serve a stand-in on a free port of 127.0.0.1 until the block ends."""
    app = app or StandinApp()
    port = free_port()
    # uvloop + httptools: the asyncio loop loses TCP_NODELAY (uvicorn#3149), and every
    # SDK request would then wait 40 ms for a delayed ACK
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"stripe-standin-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Stripe stand-in did not start")
        time.sleep(0.01)
    try:
        yield Running(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)


def signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A webhook request body and headers as Stripe sends them."""
    now = int(time.time()) if timestamp is None else timestamp
    event = {
        "id": event_id or f"evt_sb{time.time_ns()}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": now,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    payload = json.dumps(event).encode()
    headers = {
        "Stripe-Signature": signature(payload, secret, now),
        "Content-Type": "application/json; charset=utf-8",
    }
    return payload, headers
