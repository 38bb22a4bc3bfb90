"""The webhook delivery worker as a background task of the API process (``tallybook
serve``); ``tallybook worker`` runs the same worker on its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tallybook.bootstrap import Container
from tallybook.domain.webhooks import Outcome


class BackgroundDelivery:
    """A running ``DeliveryWorker`` task; ``stop`` lets in-flight attempts finish."""

    def __init__(self, task: asyncio.Task[None], stop_event: asyncio.Event):
        self._task = task
        self._stop = stop_event

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def start_delivery(
    container: Container, on_outcome: Callable[[Outcome], None] | None = None
) -> BackgroundDelivery:
    """Start delivering on the running event loop."""
    stop = asyncio.Event()
    worker = container.delivery_worker(on_outcome)
    task = asyncio.get_running_loop().create_task(worker.run(stop))
    return BackgroundDelivery(task, stop)
