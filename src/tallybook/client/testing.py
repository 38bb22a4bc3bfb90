"""An in-memory stand-in for ``POST /v1/events``, to test code that uses the SDK.

``FakeServer`` keeps events by id the way the real server does (a repeated id is a
duplicate, a repeated id with a different body a ``conflict``) and can be told to fail::

    server = FakeServer()
    server.fail_next(503, httpx.ConnectError("down"))  # the next two requests fail
    with Client("key", transport=server.transport(), backoff_base=0.001) as client:
        client.track("acme", "api_call")
    assert len(server.events) == 1

It works with ``Client`` and ``AsyncClient`` (``httpx.MockTransport`` serves both) and is
thread-safe. It checks only what the SDK relies on, not the full server validation.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["FakeServer"]

Failure = int | httpx.Response | Exception
Rejector = Callable[[dict[str, Any]], tuple[str, str] | None]


class FakeServer:
    """Stores events by id; ``requests`` records the ids of every request received."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        max_batch: int = 10_000,
        reject: Rejector | None = None,
    ) -> None:
        """``api_key``: require this bearer token. ``max_batch``: larger requests get
        413. ``reject(event)``: return ``(code, message)`` to reject an event."""
        self.api_key = api_key
        self.max_batch = max_batch
        self.reject = reject
        self.events: dict[str, dict[str, Any]] = {}
        self.requests: list[list[str]] = []
        self.http_requests: list[httpx.Request] = []
        self._failures: deque[Failure] = deque()
        self._lost_responses = 0
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, *failures: Failure) -> None:
        """Answer the next requests with these, without storing anything: a status code
        (with a Tallybook error body), a ready ``httpx.Response``, or an exception to
        raise (``httpx.ConnectError(...)``, ``httpx.ReadTimeout(...)``)."""
        with self._lock:
            self._failures.extend(failures)

    def lose_next_responses(self, count: int) -> None:
        """Store the next ``count`` requests' events, then raise ``ReadTimeout``, as if
        the answer was lost on the way back. The client's retry must not double count."""
        with self._lock:
            self._lost_responses += count

    @property
    def received_ids(self) -> list[str]:
        """Every id received, retries included, in arrival order."""
        with self._lock:
            return [event_id for batch in self.requests for event_id in batch]

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.http_requests.append(request)
            if request.method != "POST" or not request.url.path.endswith("/v1/events"):
                return _error(404, "not_found", f"no route {request.method} {request.url.path}")
            if self.api_key is not None and (
                request.headers.get("authorization") != f"Bearer {self.api_key}"
            ):
                return _error(401, "unauthorized", "missing or invalid API key")
            events = json.loads(request.content)["events"]
            self.requests.append([str(event.get("id")) for event in events])
            if self._failures:
                failure = self._failures.popleft()
                if isinstance(failure, Exception):
                    raise failure
                if isinstance(failure, httpx.Response):
                    return failure
                return _error(failure, f"http_{failure}", "injected failure")
            if len(events) > self.max_batch:
                return _error(413, "payload_too_large", f"more than {self.max_batch} events")
            answer = self._store(events)
            if self._lost_responses:
                self._lost_responses -= 1
                raise httpx.ReadTimeout("response lost (injected)", request=request)
            return httpx.Response(200, json=answer)

    def _store(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": []}
        for index, event in enumerate(events):
            problem = self._problem(event)
            if problem is None and event["id"] in self.events:
                if self.events[event["id"]] == event:
                    answer["duplicates"] += 1
                    continue
                problem = ("conflict", "same id, different event")
            if problem is not None:
                answer["rejected"] += 1
                code, message = problem
                answer["errors"].append(
                    {"index": index, "id": event.get("id"), "code": code, "message": message}
                )
                continue
            self.events[event["id"]] = event
            answer["accepted"] += 1
        return answer

    def _problem(self, event: dict[str, Any]) -> tuple[str, str] | None:
        for key in ("id", "customer", "type"):
            if not isinstance(event.get(key), str) or not event[key]:
                return "invalid_event", f"{key} is required"
        timestamp = event.get("timestamp")
        if not isinstance(timestamp, str) or not timestamp.endswith("Z"):
            return "invalid_timestamp", "timestamp must be RFC 3339 UTC"
        return self.reject(event) if self.reject is not None else None


def _error(status: int, code: str, message: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return httpx.Response(status, json=body)
