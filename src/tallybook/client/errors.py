"""Exceptions raised by the Tallybook SDK.

Every exception the SDK raises on purpose derives from :class:`TallybookError`, so one
``except TallybookError`` catches them all. Third-party errors (httpx) are translated at
the transport boundary and kept as ``__cause__``::

    TallybookError
    ├── InvalidEventError      track()/send() got an event that cannot be sent
    │                          (also a ValueError); raised in the caller, never queued
    ├── QueueFullError         track() could not buffer the event: the queue held
    │                          ``max_queue`` events for ``enqueue_timeout`` seconds
    ├── ClientClosedError      the client is closed, or close(timeout=...) gave up on
    │                          events that were still queued or being retried
    ├── DeliveryError          a batch could not be delivered; ``.events`` may be set
    │   ├── ApiError           the server answered 4xx/5xx: ``status``, ``code``,
    │   │                      ``message``, ``details``, ``retry_after``
    │   └── NetworkError       the request never got an answer (connection refused,
    │                          timeout, broken connection) after every retry
    └── EventsRejectedError    the server stored the batch but rejected some events
                               (200 with ``errors``); ``.rejections`` lists them

Where they surface:

- :meth:`Client.track` raises ``InvalidEventError``, ``QueueFullError`` and
  ``ClientClosedError`` directly.
- :meth:`Client.send` raises ``ApiError`` / ``NetworkError`` once retries are exhausted;
  per-event rejections are part of its returned result, not exceptions.
- Background delivery never raises into your code: permanent failures (``ApiError``,
  ``NetworkError``, ``ClientClosedError``) and rejections (``EventsRejectedError``) are
  passed to the ``on_error(error, events)`` callback, logged on the ``tallybook.client``
  logger and counted in ``client.stats``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiError",
    "ClientClosedError",
    "DeliveryError",
    "EventsRejectedError",
    "InvalidEventError",
    "NetworkError",
    "QueueFullError",
    "RejectedEvent",
    "TallybookError",
]


class TallybookError(Exception):
    """Base class of every error raised by the Tallybook SDK."""


class InvalidEventError(TallybookError, ValueError):
    """An event is malformed (missing customer, bad timestamp, non-JSON property...)."""


class QueueFullError(TallybookError):
    """The in-memory buffer stayed full (``max_queue`` events) for ``enqueue_timeout``.

    The event was *not* buffered. The server is slower than the rate of ``track()``
    calls, or unreachable: slow down, call ``flush()``, or raise ``max_queue``.
    """


class ClientClosedError(TallybookError):
    """The client is closed, or was closed before some events could be delivered."""


class DeliveryError(TallybookError):
    """A batch could not be delivered. ``events`` holds the batch when known."""

    events: list[dict[str, Any]]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.events = []


class ApiError(DeliveryError):
    """The server answered with an HTTP error (after retries, when it was retryable).

    ``code`` is the server's machine-readable ``error.code`` (for instance
    ``unauthorized`` or ``payload_too_large``), or ``http_<status>`` when the body was
    not a Tallybook error document.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApiError(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class NetworkError(DeliveryError):
    """No HTTP answer: connection refused, DNS failure, timeout, dropped connection.

    The underlying ``httpx.TransportError`` is the ``__cause__``.
    """


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """One entry of the server's per-event ``errors`` list.

    ``index`` is the position in the list given to ``send()`` (or in the batch the
    background worker sent), ``id`` the event id.
    """

    index: int
    id: str | None
    code: str
    message: str


class EventsRejectedError(TallybookError):
    """The server accepted the request but rejected some of its events.

    Only ever passed to ``on_error``; ``rejections`` lists the server's reasons and the
    callback's ``events`` argument holds the rejected events, in the same order.
    """

    def __init__(self, rejections: list[RejectedEvent]) -> None:
        codes = sorted({r.code for r in rejections})
        super().__init__(f"{len(rejections)} event(s) rejected: {', '.join(codes)}")
        self.rejections = rejections
