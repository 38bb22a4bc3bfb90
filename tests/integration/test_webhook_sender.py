"""The HTTP sender itself, against a real local HTTP server: what one attempt records.

Redirects are failed attempts (never followed), a huge answer is cut off after 64 KiB
without stalling the attempt, a closed port and a URL the client cannot use become error
strings (never exceptions), and the kept-alive connection is reused between attempts.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tallybook.adapters.webhooks import HttpSender
from tallybook.domain.webhooks import Claimed, Sent

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict[str, str], bytes, int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        port = self.client_address[1]
        Handler.seen.append((self.path, dict(self.headers), body, port))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/ok")
            self.send_header("content-length", "0")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("content-length", str(4 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass  # the sender hung up, as it should
        else:
            self.send_response(204)
            self.send_header("retry-after", "7")
            self.send_header("content-length", "0")
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def claimed(url: str) -> Claimed:
    return Claimed(
        tenant_id="t",
        message_id="msg_1",
        endpoint_id="ep_1",
        url=url,
        secrets=(SECRET,),
        type="invoice.finalized",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        sequence=1,
        data={"invoice": "inv_1"},
        attempt=1,
        failures=0,
        token="tok",
    )


def test_an_attempt_is_signed_and_the_connection_is_reused(server: str) -> None:
    async def go() -> list[Sent]:
        sender = HttpSender(timeout=5)
        try:
            return [await sender.send(claimed(server + "/ok")) for _ in range(3)]
        finally:
            await sender.aclose()

    results = asyncio.run(go())
    assert [(r.status_code, r.retry_after, r.error) for r in results] == [(204, "7", None)] * 3
    path, headers, body, _ = Handler.seen[0]
    assert path == "/ok" and headers["webhook-id"] == "msg_1"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Tallybook-Webhooks/")
    signed = {k: v for k, v in headers.items() if k.startswith("webhook-")}
    Webhook(SECRET).verify(body, signed)  # raises when the signature is wrong
    assert len({port for *_, port in Handler.seen}) == 1  # one kept-alive connection


def test_redirects_are_not_followed_and_huge_answers_are_cut_off(server: str) -> None:
    async def go() -> tuple[Sent, Sent]:
        sender = HttpSender(timeout=5)
        try:
            return await sender.send(claimed(server + "/redirect")), await sender.send(
                claimed(server + "/huge")
            )
        finally:
            await sender.aclose()

    redirect, huge = asyncio.run(go())
    assert (redirect.status_code, redirect.error) == (302, None)
    assert [p for p, *_ in Handler.seen] == ["/redirect", "/huge"]  # /ok never requested
    assert (huge.status_code, huge.error) == (200, None)
    assert huge.duration_ms < 5000


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/closed", "http://[::1/bad", "ftp://127.0.0.1/x", "http://\udc80.example/"],
    ids=["closed-port", "unparsable", "not-http", "unencodable-host"],
)
def test_transport_failures_are_recorded_as_errors(url: str) -> None:
    async def go() -> Sent:
        sender = HttpSender(timeout=2)
        try:
            return await sender.send(claimed(url))
        finally:
            await sender.aclose()

    sent = asyncio.run(go())
    assert sent.status_code is None
    assert sent.error and SECRET not in sent.error
