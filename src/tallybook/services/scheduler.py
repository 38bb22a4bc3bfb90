"""The server's own schedule: periodically closes due billing periods.

Runs inside ``tallybook serve`` as an asyncio task; the work itself runs in a thread so
the event loop keeps serving requests. Jobs are registered by the services that own them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tallybook.bootstrap import Container

log = logging.getLogger("tallybook.scheduler")


class Scheduler:
    def __init__(self, container: Container):
        self._container = container
        self._interval = container.settings.scheduler_interval_seconds
        self._task: asyncio.Task[None] | None = None
        self.jobs: list[Callable[[], object]] = list(getattr(container, "scheduled_jobs", []))

    def start(self) -> None:
        if self._interval > 0 and self.jobs:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            for job in self.jobs:
                try:
                    await asyncio.to_thread(job)
                except Exception:
                    log.exception(
                        "scheduled job failed", extra={"job": getattr(job, "__name__", "?")}
                    )
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
