"""The real ``openmeter`` Python SDK against a real server: ingestion, and retries that
never double-count.

A small faulty proxy sits between the SDK and the server. It forwards each request, so
the server commits the events, and then -- for the attempts it is told to spoil --
answers 503/504/500 or drops the connection instead of relaying the 204. The SDK
(corehttp's retry policy) retries POSTs on 500/503/504 with the same body; the
(source, id) key makes those retries duplicates, so the stored count stays exact.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.conftest import RunningServer, ServerFactory

# openmeter (and corehttp) are imported inside the tests, never at collection: importing
# them skews CPython 3.11.7's AST recursion counter, which breaks Hypothesis property
# tests that run later in the same process ("AST constructor recursion depth mismatch").
if TYPE_CHECKING:
    from openmeter import Client
    from openmeter.models import Event

pytestmark = pytest.mark.e2e


class FaultyProxy:
    """Forwards to ``upstream``; spoils the responses of the next POSTs per ``faults``."""

    def __init__(self, upstream: str):
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self.faults: deque[str] = deque()  # "503" | "504" | "500" | "drop" | "ok"
        self.posts = 0
        self.committed: list[int] = []  # upstream status of every forwarded POST
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.relay(self, "GET")

            def do_POST(self) -> None:
                proxy.relay(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def relay(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        skip = {"host", "content-length", "connection", "accept-encoding"}
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in skip}
        upstream = self.upstream.request(method, handler.path, content=body, headers=headers)
        fault = "ok"
        if method == "POST":
            self.posts += 1
            self.committed.append(upstream.status_code)
            fault = self.faults.popleft() if self.faults else "ok"
        if fault == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        if fault != "ok":
            payload = b'{"type":"about:blank","title":"Unavailable","status":%s}' % fault.encode()
            self._send(handler, int(fault), "application/problem+json", payload)
            return
        content_type = upstream.headers.get("content-type", "application/json")
        self._send(handler, upstream.status_code, content_type, upstream.content)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
        handler.send_response(status)
        if status != 204:
            handler.send_header("content-type", content_type)
            handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        if status != 204:
            handler.wfile.write(body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.upstream.close()


@pytest.fixture
def live(server: ServerFactory, db_url: str) -> Iterator[tuple[RunningServer, FaultyProxy, Client]]:
    from openmeter import Client

    handle = server(db_url)
    proxy = FaultyProxy(handle.base_url)
    sdk = Client(
        endpoint=proxy.url,
        token=handle.api_key,
        retry_total=5,
        retry_backoff_factor=0.01,
        retry_backoff_max=1,
    )
    yield handle, proxy, sdk
    sdk.close()
    proxy.close()


def event(event_id: str, tokens: int = 10, source: str = "sdk-test") -> Event:
    from openmeter.models import Event

    return Event(
        id=event_id,
        source=source,
        specversion="1.0",
        type="llm_completion",
        subject="acme",
        time=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        data={"tokens": tokens, "model": "gpt-4o"},
    )


def stored(handle: RunningServer) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{handle.base_url}/v1/events", params={"limit": 1000}, headers=handle.headers
    )
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_sdk_ingests_single_batch_and_json(live: tuple[RunningServer, FaultyProxy, Client]) -> None:
    handle, proxy, sdk = live
    sdk.events.ingest_event(event("one"))
    sdk.events.ingest_events([event(f"batch-{i}", i) for i in range(50)])
    sdk.events.ingest_events_json([event("json-a"), event("json-b")])
    rows = stored(handle)
    assert len(rows) == 53
    one = next(r for r in rows if r["id"] == "one")
    assert (one["source"], one["customer"], one["type"]) == ("sdk-test", "acme", "llm_completion")
    assert one["timestamp"] == "2026-11-01T12:00:00Z"
    assert one["properties"] == {"tokens": 10, "model": "gpt-4o"}
    assert proxy.posts == 3


def test_sdk_retries_after_commit_never_double_count(
    live: tuple[RunningServer, FaultyProxy, Client],
) -> None:
    handle, proxy, sdk = live
    proxy.faults.extend(["503"])
    sdk.events.ingest_event(event("retried-once"))
    assert proxy.committed == [204, 204]  # the server stored it, then saw the retry

    proxy.faults.extend(["504", "503"])
    sdk.events.ingest_events([event(f"b-{i}") for i in range(200)])
    proxy.faults.extend(["500"])
    sdk.events.ingest_events_json([event("j-1"), event("j-2")])
    assert proxy.posts == 2 + 3 + 2
    assert len(stored(handle)) == 1 + 200 + 2


def test_application_retry_after_a_dropped_response(
    live: tuple[RunningServer, FaultyProxy, Client],
) -> None:
    """corehttp does not retry a POST whose connection dropped; the application does,
    with the same event, and it is still stored once."""
    from corehttp.exceptions import ServiceResponseError

    handle, proxy, sdk = live
    proxy.faults.extend(["drop"])
    batch = [event(f"d-{i}") for i in range(100)]
    for _attempt in range(3):
        try:
            sdk.events.ingest_events(batch)
            break
        except ServiceResponseError:
            continue
    assert proxy.committed[0] == 204
    assert len(stored(handle)) == 100


def test_sdk_surfaces_rejections_as_problems(
    live: tuple[RunningServer, FaultyProxy, Client],
) -> None:
    from corehttp.exceptions import HttpResponseError
    from openmeter.models import Event

    handle, _, sdk = live
    sdk.events.ingest_event(event("k", tokens=1))
    with pytest.raises(HttpResponseError) as caught:
        sdk.events.ingest_event(event("k", tokens=2))  # same id, other body
    assert caught.value.status_code == 409
    with pytest.raises(HttpResponseError) as caught:
        sdk.events.ingest_events(
            [event("fine"), Event(id="bad", source="s", specversion="1.0", type="t", subject="")]
        )
    assert caught.value.status_code == 400
    assert {r["id"] for r in stored(handle)} == {"k", "fine"}
