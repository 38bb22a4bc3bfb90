"""``AsyncClient``: the asyncio twin of ``Client``, with one background task.

Same buffering, batching, retry and flush semantics as ``sync_client.py`` (the shared
parts live in ``core.py``, ``buffer.py`` and ``delivery.py``). The worker task is started by the first
``track()`` in the running event loop; the client belongs to that loop from then on.
There is no ``atexit`` hook: use ``async with`` or ``await client.aclose()``.

This module only waits and does I/O: options, buffering decisions, request building,
retries, response parsing and error reports live in ``core.py``, shared with ``Client``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
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

__all__ = ["AsyncClient", "AsyncOnError"]

logger = logging.getLogger("tallybook.client")
T = TypeVar("T")

AsyncOnError = Callable[[TallybookError, list[Event]], Awaitable[object] | object]
"""Like ``OnError``; may also be a coroutine function, which is awaited."""


class AsyncClient:
    """asyncio Tallybook client. See docs/sdk.md for the configuration table.

    Takes the same ``**options`` as ``Client`` (``ClientSettings``).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_error: AsyncOnError | None = None,
        **options: Unpack[ClientSettings],
    ) -> None:
        self._core = ClientCore(api_key, base_url, on_error, options)
        self._http = httpx.AsyncClient(transport=transport, **self._core.http_options())

        # One condition, notified on every change: new work, free space, progress.
        self._changed = asyncio.Condition()
        self._abort = asyncio.Event()  # give up on retries and queued events now
        self._task: asyncio.Task[None] | None = None
        self._close_lock = asyncio.Lock()

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
        async with self._changed:
            if self._core.must_wait_for_room():
                await self._wait(
                    lambda: not self._core.must_wait_for_room(),
                    self._core.options.enqueue_timeout,
                )
            wake = self._core.enqueue(event)
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name="tallybook-client"
                )
            if wake:
                self._changed.notify_all()
        return str(event["id"])

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event tracked before this call is delivered or given up on.

        Returns False if ``timeout`` seconds passed first (the events stay queued).
        """
        self._check_not_worker("flush")
        async with self._changed:
            target = self._core.request_flush()
            self._changed.notify_all()
            return await self._wait(lambda: self._core.flushed(target), timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """Flush, stop the worker task and release connections. Idempotent.

        With a ``timeout``, events still queued or being retried after that many seconds
        are given up on and reported to ``on_error`` as ``ClientClosedError``.
        """
        self._check_not_worker("aclose")
        async with self._close_lock:
            if self._core.closed:
                return
            async with self._changed:
                self._core.closing = True
                self._changed.notify_all()  # blocked track() calls raise ClientClosedError
            drained = await self.flush(timeout)
            async with self._changed:
                self._core.stopping = True
                if not drained:
                    self._abort.set()
                self._changed.notify_all()
            if self._task is not None:
                await asyncio.wait([self._task])
            async with self._changed:
                leftovers = self._core.buffer.take_all()
            await self._finish(self._core.abandon(leftovers), len(leftovers))
            await self._http.aclose()
            self._core.closed = True

    async def send(self, events: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Send events now, bypassing the buffer; return the server's tally.

        Same contract as ``Client.send``: chunks of ``batch_size``, retries, 413
        splitting; raises ``ApiError``/``NetworkError`` with ``events`` set to every
        event not known to be delivered.
        """
        return await self._drive(self._core.plan_send(events))

    async def check(
        self, customer: str, feature: str, units: int | str | Decimal = 1
    ) -> Entitlement:
        """May ``customer`` use ``units`` of ``feature`` now? One GET, no retries.

        Returns an :class:`~tallybook.client.entitlements.Entitlement` (truthy when
        ``has_access``). Raises ``ApiError`` (``feature_not_found``, ``customer_not_found``,
        ``invalid_units``...), ``NetworkError``, ``ValueError`` for bad arguments, or
        ``ClientClosedError``.
        """
        path, params = self._core.check_request(customer, feature, units)
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise self._core.check_failed(exc) from exc
        return self._core.check_result(response)

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters (see ``ClientStats``)."""
        return self._core.stats()

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
        return self._core.describe("AsyncClient")

    # -- the worker task -------------------------------------------------------------

    async def _next_batch(self) -> list[Event] | None:
        """Wait until a batch is due and take it; None when the worker should exit."""
        async with self._changed:
            while isinstance(due := self._core.next_batch(self._abort.is_set()), Wait):
                await self._wait(None, due.seconds)
            if due is not None:
                self._changed.notify_all()
            return due

    async def _run(self) -> None:
        while (batch := await self._next_batch()) is not None:
            try:
                delivery = await self._drive(self._core.plan_batch(batch))
            except Exception as exc:  # a bug or a custom transport's error: never die
                delivery = self._core.crashed(batch, exc)
            await self._finish(delivery, len(batch))

    async def _drive(self, plan: Generator[Post | Sleep, Any, T]) -> T:
        """Run a core plan with this client's HTTP client and abortable sleep."""
        reply: Any = None
        while not isinstance(step := advance(plan, reply), Done):
            if isinstance(step, Sleep):
                reply = await self._sleep_unless_aborted(step.seconds)
                continue
            try:
                reply = await self._http.post(step.path, content=step.body)
            except httpx.TransportError as exc:
                reply = exc
        return step.value

    async def _wait(self, predicate: Callable[[], bool] | None, timeout: float | None) -> bool:
        """Wait on ``_changed`` (held) until ``predicate`` holds, or for one notification
        if it is None; False if ``timeout`` seconds passed first."""
        try:
            async with asyncio.timeout(timeout):
                if predicate is None:
                    await self._changed.wait()
                else:
                    await self._changed.wait_for(predicate)
        except TimeoutError:
            return False
        return True

    async def _sleep_unless_aborted(self, seconds: float) -> bool:
        """Sleep; True (early) if the client is being closed without waiting."""
        try:
            async with asyncio.timeout(seconds):
                await self._abort.wait()
        except TimeoutError:
            return False
        return True

    async def _finish(self, delivery: Delivery | None, count: int) -> None:
        """Report ``delivery``'s problems to ``on_error`` (awaiting coroutines it returns),
        then settle ``count`` events."""
        if delivery is not None:
            for outcome in self._core.report(delivery):
                if inspect.isawaitable(outcome):
                    try:
                        await outcome
                    except Exception:
                        logger.exception("on_error callback raised")
        async with self._changed:
            self._core.settle(count)
            self._changed.notify_all()

    def _check_not_worker(self, method: str) -> None:
        if self._task is not None and asyncio.current_task() is self._task:
            raise RuntimeError(f"{method}() cannot be called from on_error (it would deadlock)")
