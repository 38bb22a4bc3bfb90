"""The server's own schedule: periodically closes due billing periods.

Runs inside ``tallybook serve`` as an asyncio task; the work itself runs in a thread so
the event loop keeps serving requests. Jobs are registered by the services that own them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("tallybook.scheduler")


class _Interval(Protocol):
    @property
    def scheduler_interval_seconds(self) -> float: ...


class Jobs(Protocol):
    """What the scheduler runs: the container's settings and ``scheduled_jobs``."""

    @property
    def settings(self) -> _Interval: ...

    @property
    def scheduled_jobs(self) -> list[Callable[[], object]]: ...


class Scheduler:
    """Runs ``container.scheduled_jobs`` every ``scheduler_interval_seconds`` (0: never)."""

    def __init__(self, container: Jobs):
        self._container = container
        self._interval = container.settings.scheduler_interval_seconds
        self._task: asyncio.Task[None] | None = None
        self.jobs: list[Callable[[], object]] = list(container.scheduled_jobs)

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
