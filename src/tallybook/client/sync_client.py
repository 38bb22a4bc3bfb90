"""``Client``: buffered event tracking with a background flusher thread.

``track()`` validates an event, appends it to an in-memory FIFO buffer and returns its id.
One daemon thread takes batches of up to ``batch_size`` events from the buffer, as soon as
that many are waiting, when the oldest has waited ``flush_interval`` seconds, or when
``flush()``/``close()`` asks, and delivers them (see ``delivery.py`` for retries).

``flush()`` waits until the worker has *settled* (delivered, or given up on and
reported) every event buffered before it was called; ``buffer.py`` explains the counting.
The buffer and the three conditions (new work, free space, progress) share one lock.

This module only waits and does I/O: options, buffering decisions, request building,
retries, response parsing and error reports live in ``core.py``, shared with
``AsyncClient``.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from tallybook.client.config import DEFAULT_BASE_URL, ClientSettings
from tallybook.client.core import ClientCore, Done, Wait, advance
from tallybook.client.delivery import Delivery, Post, Sleep
from tallybook.client.entitlements import Entitlement
from tallybook.client.errors import TallybookError
from tallybook.client.events import Event, build_event
from tallybook.client.results import BatchResult, ClientStats

__all__ = ["Client", "OnError"]

T = TypeVar("T")

OnError = Callable[[TallybookError, list[Event]], object]
"""``on_error(error, events)``: called from the worker for every batch given up on
(``ApiError``, ``NetworkError``, ``ClientClosedError``) and for events the server
rejected (``EventsRejectedError``). Exceptions it raises are logged and ignored."""


class Client:
    """Thread-safe Tallybook client. See docs/sdk.md for the configuration table.

    ``**options`` are the keyword-only settings of ``ClientSettings`` (``batch_size``,
    ``flush_interval``, ``max_queue``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``timeout``, ``enqueue_timeout``); a bad value raises ``ValueError``.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        on_error: OnError | None = None,
        **options: Unpack[ClientSettings],
    ) -> None:
        self._core = ClientCore(api_key, base_url, on_error, options)
        self._http = httpx.Client(transport=transport, **self._core.http_options())

        self._lock = threading.Lock()  # guards _core's buffer and flags
        self._has_work = threading.Condition(self._lock)  # the worker waits on it
        self._not_full = threading.Condition(self._lock)  # track() waits on it
        self._progress = threading.Condition(self._lock)  # flush() waits on it
        self._abort = threading.Event()  # give up on retries and queued events now
        self._close_lock = threading.Lock()

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
        with self._lock:
            if self._core.must_wait_for_room():
                self._not_full.wait_for(
                    lambda: not self._core.must_wait_for_room(),
                    self._core.options.enqueue_timeout,
                )
            if self._core.enqueue(event):
                self._has_work.notify()
        return str(event["id"])

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event tracked before this call is delivered or given up on.

        Failures have been passed to ``on_error`` by the time it returns. Returns False
        if ``timeout`` seconds passed first (the events stay queued).
        """
        self._check_not_worker("flush")
        with self._lock:
            target = self._core.request_flush()
            self._has_work.notify()
            return self._progress.wait_for(lambda: self._core.flushed(target), timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the worker thread and release connections. Idempotent.

        With a ``timeout``, events still queued or being retried after that many seconds
        are given up on and reported to ``on_error`` as ``ClientClosedError``.
        """
        self._check_not_worker("close")
        with self._close_lock:
            if self._core.closed:
                return
            with self._lock:
                self._core.closing = True
                self._not_full.notify_all()  # blocked track() calls raise ClientClosedError
            atexit.unregister(self._close_at_exit)
            drained = self.flush(timeout)
            with self._lock:
                self._core.stopping = True
                if not drained:
                    self._abort.set()
                self._has_work.notify_all()
            self._thread.join()
            with self._lock:
                leftovers = self._core.buffer.take_all()
            self._finish(self._core.abandon(leftovers), len(leftovers))
            self._http.close()
            self._core.closed = True

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
        return self._drive(self._core.plan_send(events))

    def check(self, customer: str, feature: str, units: int | str | Decimal = 1) -> Entitlement:
        """May ``customer`` use ``units`` of ``feature`` now? One GET, no retries.

        Returns an :class:`~tallybook.client.entitlements.Entitlement` (truthy when
        ``has_access``). Raises ``ApiError`` (``feature_not_found``, ``customer_not_found``,
        ``invalid_units``...), ``NetworkError``, ``ValueError`` for bad arguments, or
        ``ClientClosedError``.
        """
        path, params = self._core.check_request(customer, feature, units)
        try:
            response = self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise self._core.check_failed(exc) from exc
        return self._core.check_result(response)

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters (see ``ClientStats``)."""
        return self._core.stats()

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
        return self._core.describe("Client")

    # -- the worker thread -----------------------------------------------------------

    def _next_batch(self) -> list[Event] | None:
        """Wait until a batch is due and take it; None when the worker should exit."""
        with self._lock:
            while isinstance(due := self._core.next_batch(self._abort.is_set()), Wait):
                self._has_work.wait(due.seconds)
            if due is not None:
                self._not_full.notify(len(due))
            return due

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                delivery = self._drive(self._core.plan_batch(batch))
            except Exception as exc:  # a bug or a custom transport's error: never die
                delivery = self._core.crashed(batch, exc)
            self._finish(delivery, len(batch))

    def _drive(self, plan: Generator[Post | Sleep, Any, T]) -> T:
        """Run a core plan with this client's HTTP client and abortable sleep."""
        reply: Any = None
        while not isinstance(step := advance(plan, reply), Done):
            if isinstance(step, Sleep):
                reply = self._abort.wait(step.seconds)
                continue
            try:
                reply = self._http.post(step.path, content=step.body)
            except httpx.TransportError as exc:
                reply = exc
        return step.value

    def _finish(self, delivery: Delivery | None, count: int) -> None:
        """Report ``delivery``'s problems to ``on_error``, then settle ``count`` events."""
        if delivery is not None:
            self._core.report(delivery)
        with self._lock:
            self._core.settle(count)
            self._progress.notify_all()

    def _check_not_worker(self, method: str) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{method}() cannot be called from on_error (it would deadlock)")

    def _close_at_exit(self) -> None:
        self.close(timeout=self._core.options.timeout)
