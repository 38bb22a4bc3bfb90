"""How one batch reaches the server: retries, backoff, 413 splitting, reading answers.

The logic is written once, without I/O, as a generator (:func:`plan_delivery`) that
yields :class:`Post` and :class:`Sleep` steps; ``core.py`` hands it to the threaded and
the asyncio client, which drive it with their own HTTP client and sleep. A batch is encoded once and the very same
bytes (hence the same event ids) are re-sent on every retry, so the server's
deduplication by id turns at-least-once delivery into exactly-once counting.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tallybook.client.errors import (
    ApiError,
    ClientClosedError,
    DeliveryError,
    EventsRejectedError,
    NetworkError,
    RejectedEvent,
    TallybookError,
)
from tallybook.client.events import Event
from tallybook.client.results import BatchResult, StatsRecorder

__all__ = [
    "EVENTS_PATH",
    "Delivery",
    "Post",
    "RetryPolicy",
    "Sleep",
    "encode_batch",
    "plan_delivery",
    "problems",
    "read_response",
]

logger = logging.getLogger("tallybook.client")

EVENTS_PATH = "/v1/events"  # httpx appends it to base_url's path, so prefixes work
RETRY_AFTER_CAP = 300.0
"""Longest ``Retry-After`` the SDK will honour, in seconds."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` sets a floor."""

    max_retries: int = 8
    backoff_base: float = 0.2
    backoff_max: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` from 0)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt, 62))
        jittered = random.uniform(0.0, ceiling)
        if retry_after is None:
            return jittered
        return max(jittered, min(retry_after, RETRY_AFTER_CAP))


def is_retryable(error: DeliveryError) -> bool:
    """429, 408 and 5xx answers and network errors are worth another try."""
    if isinstance(error, NetworkError):
        return not isinstance(error.__cause__, httpx.UnsupportedProtocol)
    return isinstance(error, ApiError) and (error.status in (408, 429) or error.status >= 500)


@dataclass(frozen=True, slots=True)
class Post:
    """Step: POST ``body`` (JSON) to ``path`` (relative to ``base_url``); send back the
    response or the ``httpx.TransportError`` it raised."""

    body: bytes
    path: str = EVENTS_PATH


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait ``seconds``; send back ``True`` if the client is being shut down."""

    seconds: float


@dataclass(slots=True)
class Delivery:
    """The outcome of delivering one list of events (possibly as several requests)."""

    result: BatchResult = field(default_factory=BatchResult)
    failures: list[tuple[TallybookError, list[Event]]] = field(default_factory=list)
    rejected_events: list[Event] = field(default_factory=list)


def problems(delivery: Delivery) -> list[tuple[TallybookError, list[Event]]]:
    """What ``on_error`` should hear about: permanent failures, then rejections. Logs them."""
    found = list(delivery.failures)
    for error, events in found:
        logger.error("gave up on %d events: %s", len(events), error)
    if delivery.result.errors:
        rejected = EventsRejectedError(list(delivery.result.errors))
        logger.warning("%s", rejected)
        found.append((rejected, delivery.rejected_events))
    return found


def encode_batch(events: Sequence[Event]) -> bytes:
    """The request body: ``{"events": [...]}`` as compact UTF-8 JSON."""
    payload = {"events": list(events)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def plan_delivery(
    events: Sequence[Event], policy: RetryPolicy, stats: StatsRecorder
) -> Generator[Post | Sleep, Any, Delivery]:
    """Deliver ``events``; drive with ``send()`` as described in the module docstring."""
    delivery = Delivery()
    yield from _deliver(list(events), 0, policy, stats, delivery)
    return delivery


def _deliver(
    events: list[Event], offset: int, policy: RetryPolicy, stats: StatsRecorder, out: Delivery
) -> Generator[Post | Sleep, Any, None]:
    body = encode_batch(events)
    attempt = 0
    while True:
        reply = yield Post(body)
        error: DeliveryError
        if isinstance(reply, httpx.Response):
            outcome = read_response(reply, len(events))
            if isinstance(outcome, BatchResult):
                _record_success(events, offset, outcome, stats, out)
                return
            error = outcome
            if outcome.status == 413 and len(events) > 1:
                middle = len(events) // 2
                logger.info("batch of %d events too large; splitting it", len(events))
                yield from _deliver(events[:middle], offset, policy, stats, out)
                yield from _deliver(events[middle:], offset + middle, policy, stats, out)
                return
        else:
            error = NetworkError(f"{type(reply).__name__}: {reply}")
            error.__cause__ = reply
        if not is_retryable(error) or attempt >= policy.max_retries:
            _record_failure(error, events, stats, out)
            return
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        delay = policy.delay(attempt, retry_after)
        attempt += 1
        stats.add(retries=1)
        logger.info(
            "retry %d/%d of %d events in %.3fs after %s",
            attempt,
            policy.max_retries,
            len(events),
            delay,
            error,
        )
        if (yield Sleep(delay)):
            closed = ClientClosedError(f"client closed while retrying {len(events)} events")
            closed.__cause__ = error
            _record_failure(closed, events, stats, out)
            return


def _record_success(
    events: list[Event], offset: int, result: BatchResult, stats: StatsRecorder, out: Delivery
) -> None:
    stats.record_result(len(events), result)
    out.result = out.result.combine(result, offset)
    by_id = {event["id"]: event for event in events}
    for rejection in result.errors:
        if 0 <= rejection.index < len(events):
            out.rejected_events.append(events[rejection.index])
        elif rejection.id in by_id:
            out.rejected_events.append(by_id[rejection.id])


def _record_failure(
    error: TallybookError, events: list[Event], stats: StatsRecorder, out: Delivery
) -> None:
    stats.add(failed=len(events))
    if isinstance(error, DeliveryError):
        error.events = events
    out.failures.append((error, events))


def read_response(response: httpx.Response, count: int) -> BatchResult | ApiError:
    """A 2xx answer's tally, or the ``ApiError`` an error answer stands for."""
    status = response.status_code
    if not 200 <= status < 300:
        return api_error(response)
    if not response.content:  # 202/204 without a body: the server took them all
        return BatchResult(accepted=count)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return ApiError(status, "invalid_response", "response body is not a JSON object")
    return BatchResult(
        accepted=_int(data.get("accepted")),
        duplicates=_int(data.get("duplicates")),
        rejected=_int(data.get("rejected")),
        errors=tuple(_rejection(item) for item in data.get("errors") or () if _is_dict(item)),
    )


def api_error(response: httpx.Response) -> ApiError:
    """Translate an error answer (``{"error": {code, message, details}}`` or not)."""
    code, message, details = f"http_{response.status_code}", response.reason_phrase, None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details") if isinstance(error.get("details"), dict) else None
    elif response.text:
        message = response.text[:500]
    return ApiError(
        response.status_code,
        code,
        message,
        details,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _rejection(item: dict[str, Any]) -> RejectedEvent:
    index = item.get("index")
    event_id = item.get("id")
    return RejectedEvent(
        index=index if isinstance(index, int) else -1,
        id=str(event_id) if event_id is not None else None,
        code=str(item.get("code") or "rejected"),
        message=str(item.get("message") or ""),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)
