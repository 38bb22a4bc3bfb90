"""``Client``: buffered event tracking with a background flusher thread.

``track()`` validates an event, appends it to an in-memory FIFO buffer and returns its id.
One daemon thread takes batches of up to ``batch_size`` events from the buffer, as soon as
that many are waiting, when the oldest has waited ``flush_interval`` seconds, or when
``flush()``/``close()`` asks, and delivers them (see ``delivery.py`` for retries).

``flush()`` waits until the worker has *settled* (delivered, or given up on and
reported) every event buffered before it was called; ``buffer.py`` explains the counting.
The buffer and the three conditions (new work, free space, progress) share one lock.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from tallybook.client.buffer import EventBuffer
from tallybook.client.config import DEFAULT_BASE_URL, ClientOptions
from tallybook.client.delivery import EVENTS_PATH, Delivery, Post, plan_delivery, problems
from tallybook.client.errors import (
    ClientClosedError,
    DeliveryError,
    QueueFullError,
    TallybookError,
)
from tallybook.client.events import Event, build_event, event_from_mapping
from tallybook.client.results import BatchResult, ClientStats, StatsRecorder

__all__ = ["Client", "OnError"]

logger = logging.getLogger("tallybook.client")

OnError = Callable[[TallybookError, list[Event]], object]
"""``on_error(error, events)``: called from the worker for every batch given up on
(``ApiError``, ``NetworkError``, ``ClientClosedError``) and for events the server
rejected (``EventsRejectedError``). Exceptions it raises are logged and ignored."""


class Client:
    """Thread-safe Tallybook client. See docs/sdk.md for the configuration table."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        max_retries: int = 8,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        timeout: float = 10.0,
        enqueue_timeout: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        on_error: OnError | None = None,
    ) -> None:
        self._options = ClientOptions(
            api_key,
            base_url,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            timeout=timeout,
            enqueue_timeout=enqueue_timeout,
        )
        self._policy = self._options.retry_policy()
        self._on_error = on_error
        self._http = httpx.Client(transport=transport, **self._options.http_options())
        self._stats = StatsRecorder()

        self._lock = threading.Lock()  # guards _buffer and the flags below
        self._has_work = threading.Condition(self._lock)  # the worker waits on it
        self._not_full = threading.Condition(self._lock)  # track() waits on it
        self._progress = threading.Condition(self._lock)  # flush() waits on it
        self._buffer = EventBuffer(batch_size, flush_interval, max_queue)
        self._closing = False  # no more track(); set by close()
        self._stopping = False  # the worker exits once the buffer is empty
        self._abort = threading.Event()  # give up on retries and queued events now
        self._close_lock = threading.Lock()
        self._closed = False

        self._thread = threading.Thread(target=self._run, name="tallybook-client", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    # -- public API ------------------------------------------------------------------

    def track(
        self,
        customer: str,
        type: str,
        properties: Mapping[str, Any] | None = None,
        id: str | None = None,
        timestamp: datetime | str | None = None,
    ) -> str:
        """Buffer one event for background delivery and return its id.

        ``id`` defaults to a new time-ordered ``evt_<uuid7>``; pass your own to make
        re-tracking the same fact idempotent. ``timestamp`` defaults to now (UTC).
        Raises ``InvalidEventError``, ``QueueFullError`` (buffer still full after
        ``enqueue_timeout`` seconds) or ``ClientClosedError``.
        """
        event = build_event(customer, type, properties, id, timestamp)
        self._enqueue(event)
        return str(event["id"])

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event tracked before this call is delivered or given up on.

        Failures have been passed to ``on_error`` by the time it returns. Returns False
        if ``timeout`` seconds passed first (the events stay queued).
        """
        self._check_not_worker("flush")
        with self._lock:
            target = self._buffer.request_flush()
            self._has_work.notify()
            return self._progress.wait_for(lambda: self._buffer.flushed(target), timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the worker thread and release connections. Idempotent.

        With a ``timeout``, events still queued or being retried after that many seconds
        are given up on and reported to ``on_error`` as ``ClientClosedError``.
        """
        self._check_not_worker("close")
        with self._close_lock:
            if self._closed:
                return
            with self._lock:
                self._closing = True
                self._not_full.notify_all()  # blocked track() calls raise ClientClosedError
            atexit.unregister(self._close_at_exit)
            drained = self.flush(timeout)
            with self._lock:
                self._stopping = True
                if not drained:
                    self._abort.set()
                self._has_work.notify_all()
            self._thread.join()
            self._abandon_leftovers()
            self._http.close()
            self._closed = True

    def send(self, events: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Send events now, in this thread, bypassing the buffer; return the server's tally.

        Each event is a mapping with ``customer``, ``type`` and optionally ``id``,
        ``timestamp``, ``properties`` (as for ``track()``). Lists longer than
        ``batch_size`` go out as several requests and their results are summed. Retries
        and 413 splitting work as for background delivery; per-event rejections are in
        the result. Raises ``ApiError``/``NetworkError`` when a request fails for good;
        its ``events`` attribute then holds every event not known to be delivered, ids
        included, so ``client.send(error.events)`` is a safe retry.
        """
        if self._closing:
            raise ClientClosedError("the client is closed")
        wire = [event_from_mapping(event) for event in events]
        total = BatchResult()
        size = self._options.batch_size
        for start in range(0, len(wire), size):
            delivery = self._deliver(wire[start : start + size])
            if delivery.failures:
                error = delivery.failures[0][0]
                if isinstance(error, DeliveryError):
                    error.events = wire[start:]
                raise error
            total = total.combine(delivery.result, start)
        return total

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters (see ``ClientStats``)."""
        return self._stats.snapshot(queued=len(self._buffer))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client base_url={self._options.base_url!r} closed={self._closed}>"

    # -- buffering ---------------------------------------------------------------------

    def _enqueue(self, event: Event) -> None:
        with self._lock:
            if self._buffer.full and not self._closing:
                self._not_full.wait_for(
                    lambda: not self._buffer.full or self._closing,
                    self._options.enqueue_timeout,
                )
            if self._closing:
                raise ClientClosedError("the client is closed; the event was not tracked")
            if self._buffer.full:
                raise QueueFullError(
                    f"{self._options.max_queue} events are waiting to be sent (max_queue); "
                    "the event was not tracked. Is the server slow or unreachable?"
                )
            if self._buffer.append(event):
                self._has_work.notify()

    def _next_batch(self) -> list[Event] | None:
        """Wait until a batch is due and take it; None when the worker should exit."""
        with self._lock:
            while not self._abort.is_set():
                wait = self._buffer.seconds_until_due(stopping=self._stopping)
                if wait is None and self._stopping:
                    return None
                if wait == 0:
                    batch = self._buffer.take()
                    self._not_full.notify(len(batch))
                    return batch
                self._has_work.wait(wait)
            return None

    # -- the worker thread -----------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                delivery = self._deliver(batch)
            except Exception as exc:  # a bug or a custom transport's error: never die
                logger.exception("unexpected error while sending %d events", len(batch))
                self._stats.add(failed=len(batch))
                error = TallybookError(f"unexpected error: {exc!r}")
                error.__cause__ = exc
                delivery = Delivery(failures=[(error, batch)])
            self._report(delivery)
            self._settle(len(batch))

    def _deliver(self, events: list[Event]) -> Delivery:
        """Drive ``plan_delivery`` with this client's HTTP client and abortable sleep."""
        plan = plan_delivery(events, self._policy, self._stats)
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, Post):
                    try:
                        reply = self._http.post(EVENTS_PATH, content=step.body)
                    except httpx.TransportError as exc:
                        reply = exc
                else:
                    reply = self._abort.wait(step.seconds)
        except StopIteration as stop:
            result: Delivery = stop.value
            return result

    def _report(self, delivery: Delivery) -> None:
        for error, events in problems(delivery):
            if self._on_error is None:
                continue
            try:
                self._on_error(error, events)
            except Exception:
                logger.exception("on_error callback raised")

    def _abandon_leftovers(self) -> None:
        """After an aborted close: report what never left the buffer."""
        with self._lock:
            leftovers = self._buffer.take_all()
        if leftovers:
            self._stats.add(failed=len(leftovers))
            error = ClientClosedError(f"client closed before {len(leftovers)} events were sent")
            self._report(Delivery(failures=[(error, leftovers)]))
            self._settle(len(leftovers))

    def _settle(self, count: int) -> None:
        with self._lock:
            self._buffer.settle(count)
            self._progress.notify_all()

    def _check_not_worker(self, method: str) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{method}() cannot be called from on_error (it would deadlock)")

    def _close_at_exit(self) -> None:
        self.close(timeout=self._options.timeout)
