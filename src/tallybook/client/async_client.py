"""``AsyncClient``: the asyncio twin of ``Client``, with one background task.

Same buffering, batching, retry and flush semantics as ``sync_client.py`` (the shared
parts live in ``buffer.py`` and ``delivery.py``). The worker task is started by the first
``track()`` in the running event loop; the client belongs to that loop from then on.
There is no ``atexit`` hook: use ``async with`` or ``await client.aclose()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
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

__all__ = ["AsyncClient", "AsyncOnError"]

logger = logging.getLogger("tallybook.client")

AsyncOnError = Callable[[TallybookError, list[Event]], Awaitable[object] | object]
"""Like ``OnError``; may also be a coroutine function, which is awaited."""


class AsyncClient:
    """asyncio Tallybook client. See docs/sdk.md for the configuration table."""

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
        transport: httpx.AsyncBaseTransport | None = None,
        on_error: AsyncOnError | None = None,
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
        self._http = httpx.AsyncClient(transport=transport, **self._options.http_options())
        self._stats = StatsRecorder()

        # One condition, notified on every change: new work, free space, progress.
        self._changed = asyncio.Condition()
        self._buffer = EventBuffer(batch_size, flush_interval, max_queue)
        self._closing = False  # no more track(); set by aclose()
        self._stopping = False  # the worker exits once the buffer is empty
        self._abort = asyncio.Event()  # give up on retries and queued events now
        self._task: asyncio.Task[None] | None = None
        self._close_lock = asyncio.Lock()
        self._closed = False

    # -- public API ------------------------------------------------------------------

    async def track(
        self,
        customer: str,
        type: str,
        properties: Mapping[str, Any] | None = None,
        id: str | None = None,
        timestamp: datetime | str | None = None,
    ) -> str:
        """Buffer one event for background delivery and return its id (see ``Client``)."""
        event = build_event(customer, type, properties, id, timestamp)
        await self._enqueue(event)
        return str(event["id"])

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event tracked before this call is delivered or given up on.

        Returns False if ``timeout`` seconds passed first (the events stay queued).
        """
        self._check_not_worker("flush")
        async with self._changed:
            target = self._buffer.request_flush()
            self._changed.notify_all()
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self._buffer.flushed(target))
            except TimeoutError:
                return False
            return True

    async def aclose(self, timeout: float | None = None) -> None:
        """Flush, stop the worker task and release connections. Idempotent.

        With a ``timeout``, events still queued or being retried after that many seconds
        are given up on and reported to ``on_error`` as ``ClientClosedError``.
        """
        self._check_not_worker("aclose")
        async with self._close_lock:
            if self._closed:
                return
            async with self._changed:
                self._closing = True
                self._changed.notify_all()  # blocked track() calls raise ClientClosedError
            drained = await self.flush(timeout)
            async with self._changed:
                self._stopping = True
                if not drained:
                    self._abort.set()
                self._changed.notify_all()
            if self._task is not None:
                await asyncio.wait([self._task])
            await self._abandon_leftovers()
            await self._http.aclose()
            self._closed = True

    async def send(self, events: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Send events now, bypassing the buffer; return the server's tally.

        Same contract as ``Client.send``: chunks of ``batch_size``, retries, 413
        splitting; raises ``ApiError``/``NetworkError`` with ``events`` set to every
        event not known to be delivered.
        """
        if self._closing:
            raise ClientClosedError("the client is closed")
        wire = [event_from_mapping(event) for event in events]
        total = BatchResult()
        size = self._options.batch_size
        for start in range(0, len(wire), size):
            delivery = await self._deliver(wire[start : start + size])
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient base_url={self._options.base_url!r} closed={self._closed}>"

    # -- buffering ---------------------------------------------------------------------

    async def _enqueue(self, event: Event) -> None:
        async with self._changed:
            if self._buffer.full and not self._closing:
                try:
                    async with asyncio.timeout(self._options.enqueue_timeout):
                        await self._changed.wait_for(lambda: not self._buffer.full or self._closing)
                except TimeoutError:
                    pass
            if self._closing:
                raise ClientClosedError("the client is closed; the event was not tracked")
            if self._buffer.full:
                raise QueueFullError(
                    f"{self._options.max_queue} events are waiting to be sent (max_queue); "
                    "the event was not tracked. Is the server slow or unreachable?"
                )
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name="tallybook-client"
                )
            if self._buffer.append(event):
                self._changed.notify_all()

    async def _next_batch(self) -> list[Event] | None:
        """Wait until a batch is due and take it; None when the worker should exit."""
        async with self._changed:
            while not self._abort.is_set():
                wait = self._buffer.seconds_until_due(stopping=self._stopping)
                if wait is None and self._stopping:
                    return None
                if wait == 0:
                    batch = self._buffer.take()
                    self._changed.notify_all()
                    return batch
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass
            return None

    # -- the worker task -------------------------------------------------------------

    async def _run(self) -> None:
        while (batch := await self._next_batch()) is not None:
            try:
                delivery = await self._deliver(batch)
            except Exception as exc:  # a bug or a custom transport's error: never die
                logger.exception("unexpected error while sending %d events", len(batch))
                self._stats.add(failed=len(batch))
                error = TallybookError(f"unexpected error: {exc!r}")
                error.__cause__ = exc
                delivery = Delivery(failures=[(error, batch)])
            await self._report(delivery)
            await self._settle(len(batch))

    async def _deliver(self, events: list[Event]) -> Delivery:
        """Drive ``plan_delivery`` with this client's HTTP client and abortable sleep."""
        plan = plan_delivery(events, self._policy, self._stats)
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, Post):
                    try:
                        reply = await self._http.post(EVENTS_PATH, content=step.body)
                    except httpx.TransportError as exc:
                        reply = exc
                else:
                    reply = await self._sleep_unless_aborted(step.seconds)
        except StopIteration as stop:
            result: Delivery = stop.value
            return result

    async def _sleep_unless_aborted(self, seconds: float) -> bool:
        """Sleep; True (early) if the client is being closed without waiting."""
        try:
            async with asyncio.timeout(seconds):
                await self._abort.wait()
        except TimeoutError:
            return False
        return True

    async def _report(self, delivery: Delivery) -> None:
        for error, events in problems(delivery):
            if self._on_error is None:
                continue
            try:
                outcome = self._on_error(error, events)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("on_error callback raised")

    async def _abandon_leftovers(self) -> None:
        """After an aborted close: report what never left the buffer."""
        async with self._changed:
            leftovers = self._buffer.take_all()
        if leftovers:
            self._stats.add(failed=len(leftovers))
            error = ClientClosedError(f"client closed before {len(leftovers)} events were sent")
            await self._report(Delivery(failures=[(error, leftovers)]))
            await self._settle(len(leftovers))

    async def _settle(self, count: int) -> None:
        async with self._changed:
            self._buffer.settle(count)
            self._changed.notify_all()

    def _check_not_worker(self, method: str) -> None:
        if self._task is not None and asyncio.current_task() is self._task:
            raise RuntimeError(f"{method}() cannot be called from on_error (it would deadlock)")
