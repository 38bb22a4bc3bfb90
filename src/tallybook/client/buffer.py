"""The bookkeeping behind buffered delivery, shared by both clients.

``EventBuffer`` holds queued events in FIFO order and three running counts:
``enqueued`` (events ever added), ``taken`` (handed to the worker) and ``settled``
(delivered, or given up on and reported). Because events are numbered in the order they
are added and the single worker takes and settles them in that same order,
"``settled >= n``" means "the first ``n`` events are done"; that is what ``flush()``
waits for. The class does no locking and no waiting: each client guards it with its own
lock (``threading`` or ``asyncio``) and does the waiting itself.
"""

from __future__ import annotations

import time
from collections import deque

from tallybook.client.events import Event

__all__ = ["EventBuffer"]


class EventBuffer:
    """A bounded FIFO of events plus the counters ``flush()`` relies on. Not thread-safe."""

    def __init__(self, batch_size: int, flush_interval: float, max_queue: int) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self._items: deque[tuple[float, Event]] = deque()  # (monotonic time added, event)
        self.enqueued = 0
        self.taken = 0
        self.settled = 0
        self._flush_target = 0  # take partial batches until `taken` reaches it

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.max_queue

    def append(self, event: Event) -> bool:
        """Add an event (the caller checked ``full``); True if the worker should wake."""
        self._items.append((time.monotonic(), event))
        self.enqueued += 1
        pending = len(self._items)
        return pending == 1 or pending == self.batch_size

    def request_flush(self) -> int:
        """Make everything added so far due now; return the count ``flushed`` waits for."""
        self._flush_target = max(self._flush_target, self.enqueued)
        return self.enqueued

    def flushed(self, target: int) -> bool:
        return self.settled >= target

    def seconds_until_due(self, *, stopping: bool = False) -> float | None:
        """0 when a batch should be taken now, None when empty, else how long to wait.

        A batch is due when ``batch_size`` events wait, when the oldest has waited
        ``flush_interval`` seconds, when a flush asked for it, or when stopping.
        """
        if not self._items:
            return None
        if len(self._items) >= self.batch_size or self.taken < self._flush_target or stopping:
            return 0.0
        return max(0.0, self._items[0][0] + self.flush_interval - time.monotonic())

    def take(self) -> list[Event]:
        """Remove and return the next batch (up to ``batch_size`` events)."""
        count = min(self.batch_size, len(self._items))
        self.taken += count
        return [self._items.popleft()[1] for _ in range(count)]

    def take_all(self) -> list[Event]:
        """Remove and return everything still queued (when giving up at close)."""
        events = [event for _, event in self._items]
        self._items.clear()
        self.taken += len(events)
        return events

    def settle(self, count: int) -> None:
        """Record that ``count`` taken events are done (delivered or reported)."""
        self.settled += count
