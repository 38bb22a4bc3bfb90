"""The payment-provider sync as a consumer of the outbox, run by the outbox worker.

``SyncFollower`` pushes the invoices the finalization (or void) transaction marked for the
provider (``SyncService.push_marked``): at once while there are some, else every
``poll_interval`` seconds. ``SyncingDeliveryWorker`` is the webhook ``DeliveryWorker``
with the follower beside it: ``bootstrap`` hands it out when a provider is configured, so
``tallybook serve`` and ``tallybook worker`` (and ``--once``) run both. The pushes run in
threads; the event loop keeps delivering webhooks meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tallybook.domain.webhooks import Outcome
from tallybook.services.outbox import DeliveryWorker, Queue, Sender, WorkerOptions
from tallybook.services.ports import Clock
from tallybook.services.sync.push import SyncResult, SyncService

log = logging.getLogger("tallybook.sync")


class SyncFollower:
    """Pushes marked invoices until stopped (``run``) or until none is due (``drain``)."""

    def __init__(self, sync: SyncService, poll_interval: float = 0.5):
        self.sync = sync
        self.poll_interval = poll_interval

    async def step(self) -> SyncResult:
        """One ``push_marked`` in a thread."""
        return await asyncio.to_thread(self.sync.push_marked)

    async def run(self, stop: asyncio.Event) -> None:
        """Push marked invoices until ``stop`` is set (the push in progress finishes)."""
        while not stop.is_set():
            try:
                result = await self.step()
                pushed = result.synced + result.pending + result.failed
            except Exception:
                log.exception("provider sync step failed")
                pushed = 0
            if not pushed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def drain(self) -> int:
        """Push every marked invoice due now; returns how many were synced or failed
        (stops when a step only leaves invoices pending: their retry is due later)."""
        total = 0
        while True:
            result = await self.step()
            if not (result.synced or result.failed):
                return total
            total += result.synced + result.failed


class SyncingDeliveryWorker(DeliveryWorker):
    """A ``DeliveryWorker`` that also runs a ``SyncFollower`` (see the module docstring).
    ``drain`` returns the delivery attempts, as the plain worker's does."""

    def __init__(
        self,
        queue: Queue,
        sender: Sender,
        clock: Clock,
        options: WorkerOptions | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        *,
        follower: SyncFollower,
    ):
        super().__init__(queue, sender, clock, options, on_outcome)
        self.follower = follower

    async def run(self, stop: asyncio.Event) -> None:
        follower = asyncio.get_running_loop().create_task(self.follower.run(stop))
        try:
            await super().run(stop)
        finally:
            if not stop.is_set():  # cancelled: do not leave the follower behind
                follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def drain(self) -> int:
        attempts = await super().drain()
        await self.follower.drain()
        return attempts
