"""A real webhook receiver for tests: a threaded HTTP/1.1 server on 127.0.0.1.

Every request is recorded with its headers and raw body, and verified with the
``standardwebhooks`` package against each secret the test has given (``secrets``):
``verified`` lists the secrets (by position) whose verification passed. The answer is
chosen by ``answer(request)`` (default: 204), so a test can fail first attempts, answer
410, or send ``Retry-After``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    id: str
    headers: dict[str, str]
    body: bytes
    verified: list[int]
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Answer = Callable[[Received], tuple[int, dict[str, str]]]


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    answer: Answer = lambda _r: (204, {})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self) -> list[Received]:
        """Requests answered 2xx."""
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = []
            for index, secret in enumerate(list(receiver.secrets)):
                try:
                    Webhook(secret).verify(body, headers)
                    verified.append(index)
                except WebhookVerificationError:
                    pass
            got = Received(headers.get("webhook-id", ""), headers, body, verified)
            status, extra = receiver.answer(got)
            got.status = status
            with receiver.lock:
                receiver.received.append(got)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # many workers connect at once (the default backlog is 5)


@contextmanager
def running_receiver(secrets: list[str] | None = None) -> Iterator[Receiver]:
    """Start a receiver on a free port of 127.0.0.1; stopped when the block ends."""
    receiver = Receiver(url="")
    server = _Server(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    receiver.secrets = list(secrets or [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
