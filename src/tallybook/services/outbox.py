"""The outbox port and the delivery worker.

Facts first, messages after (ARCHITECTURE.md): a store that records a fact calls
``Outbox.add(conn, tenant, messages, now)`` on the connection of the fact's own
transaction, so a rollback takes the messages with it. ``DeliveryWorker`` then turns the
committed facts into signed HTTP requests: it runs inside ``tallybook serve`` (an asyncio
task) or alone as ``tallybook worker``; any number of workers can share one PostgreSQL
(claims use ``FOR UPDATE SKIP LOCKED``; see ``tallybook.adapters.store.outbox``).

The worker keeps at most ``batch`` attempts in flight, at most ``per_endpoint`` per
endpoint (a slow receiver never holds back the others), and writes outcomes in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from tallybook.domain.webhooks import (
    Claimed,
    OutboxMessage,
    Outcome,
    Sent,
    decide,
    parse_retry_after,
)
from tallybook.services.ports import Clock

log = logging.getLogger("tallybook.webhooks")


class Outbox(Protocol):
    """Records messages about a fact in the fact's own transaction (``conn``)."""

    def add(
        self, conn: Any, tenant_id: str, messages: Sequence[OutboxMessage], now: datetime
    ) -> None: ...


class Queue(Protocol):
    """The delivery queue (``tallybook.adapters.store.outbox.OutboxQueue``)."""

    def dispatch(self, now: datetime, limit: int = 500) -> int: ...

    def claim(
        self,
        now: datetime,
        lease: timedelta,
        *,
        limit: int,
        per_endpoint: int,
        room: Mapping[str, int],
        exclude: Iterable[str] = (),
    ) -> list[Claimed]: ...

    def record(self, outcomes: Sequence[Outcome], now: datetime) -> int: ...

    def has_due(self, now: datetime) -> bool: ...

    def lag_seconds(self, now: datetime) -> float: ...


class Sender(Protocol):
    """Sends one signed attempt (``tallybook.adapters.webhooks.HttpSender``)."""

    timeout: float

    async def send(self, claimed: Claimed) -> Sent: ...

    async def aclose(self) -> None: ...


@dataclass
class WorkerOptions:
    """``batch``: attempts in flight at most; ``per_endpoint``: per endpoint at most;
    ``poll_interval``: seconds between looks at an idle queue; ``backoff_scale``
    multiplies the retry schedule (1 in production; tests shrink it)."""

    batch: int = 200
    per_endpoint: int = 16
    poll_interval: float = 0.5
    backoff_scale: float = 1.0


@dataclass
class _State:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    in_flight: dict[str, int] = field(default_factory=dict)
    done: list[Outcome] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dispatched: bool = True  # the last dispatch found facts
    next_dispatch: float = 0.0  # monotonic time of the next dispatch when idle


class DeliveryWorker:
    """Dispatches outbox facts, claims due attempts, sends them, records outcomes.

    ``on_outcome`` is called for every recorded outcome (Prometheus counters).
    """

    def __init__(
        self,
        queue: Queue,
        sender: Sender,
        clock: Clock,
        options: WorkerOptions | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ):
        self.queue = queue
        self.sender = sender
        self.clock = clock
        self.options = options or WorkerOptions()
        self.on_outcome = on_outcome
        # an attempt (bounded by the sender's timeout as a whole) ends well before its
        # lease does, so no other worker sends it meanwhile; a worker killed mid-attempt
        # leaves it to be retried when the lease ends
        self.lease = timedelta(seconds=2 * sender.timeout + 5)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish the attempts in flight."""
        state = _State()
        try:
            while not stop.is_set():
                try:
                    claimed = await self._step(state)
                except Exception:
                    log.exception("webhook delivery step failed")
                    claimed = 0
                if not claimed:
                    await _wait_any(state.wake, stop, self.options.poll_interval)
        finally:
            await self._finish(state)

    async def drain(self) -> int:
        """Deliver everything due now, then return the number of attempts made
        (tests, benchmarks and ``tallybook worker --once``). Rows other workers hold
        are waited for, so when it returns nothing is due any more."""
        state, total = _State(), 0
        try:
            while True:
                claimed = await self._step(state)  # flushes finished attempts first
                total += claimed
                if claimed or state.done:
                    continue
                if state.tasks:
                    await _wait_any(state.wake, None, self.options.poll_interval)
                elif await asyncio.to_thread(self.queue.has_due, self.clock.now()):
                    await asyncio.sleep(0.01)  # due rows another worker is claiming
                else:
                    break
        finally:
            await self._finish(state)
        return total

    # -- one pass ---------------------------------------------------------------------

    async def _step(self, state: _State) -> int:
        await self._flush(state)
        now = self.clock.now()
        if state.dispatched or time.monotonic() >= state.next_dispatch:
            # look for new facts at once while there are some, else every poll interval
            state.dispatched = await asyncio.to_thread(self.queue.dispatch, now) > 0
            state.next_dispatch = time.monotonic() + self.options.poll_interval
        room = self.options.batch - len(state.tasks)
        if room <= 0:
            return 0
        per = self.options.per_endpoint
        full = [ep for ep, n in state.in_flight.items() if n >= per]
        left = {ep: per - n for ep, n in state.in_flight.items() if n > 0}
        claimed = await asyncio.to_thread(
            lambda: self.queue.claim(
                now, self.lease, limit=room, per_endpoint=per, room=left, exclude=full
            )
        )
        for item in claimed:
            state.in_flight[item.endpoint_id] = state.in_flight.get(item.endpoint_id, 0) + 1
            task = asyncio.get_running_loop().create_task(self._attempt(state, item))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
        return len(claimed)

    async def _attempt(self, state: _State, claimed: Claimed) -> None:
        try:
            sent = await self.sender.send(claimed)
            now = self.clock.now()
            outcome = decide(
                claimed,
                status_code=sent.status_code,
                error=sent.error,
                retry_after=parse_retry_after(sent.retry_after, now),
                started_at=now,
                duration_ms=sent.duration_ms,
                now=now,
                scale=self.options.backoff_scale,
            )
            state.done.append(outcome)
        except Exception:  # never lose track of a claim: its lease will expire
            log.exception("webhook attempt failed", extra={"webhook_message": claimed.message_id})
        finally:
            state.in_flight[claimed.endpoint_id] -= 1
            state.wake.set()

    async def _flush(self, state: _State) -> None:
        state.wake.clear()
        if not state.done:
            return
        outcomes, state.done = state.done, []
        await asyncio.to_thread(self.queue.record, outcomes, self.clock.now())
        if self.on_outcome is not None:
            for outcome in outcomes:
                self.on_outcome(outcome)

    async def _finish(self, state: _State) -> None:
        if state.tasks:
            await asyncio.wait(set(state.tasks), timeout=self.sender.timeout + 5)
        with contextlib.suppress(Exception):
            await self._flush(state)
        await self.sender.aclose()


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event | None, timeout: float) -> None:
    waits = [asyncio.ensure_future(wake.wait())]
    if stop is not None:
        waits.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
