"""Group commit for the event store (used on SQLite, whose writers are serialised anyway).

Writers that arrive while a transaction runs are committed together: the first writer
leads -- it takes the queued requests (up to ``max_rows`` events), runs their work in ONE
transaction, commits, wakes them all with their outcome and hands the lead to the next
queued writer. One commit (one fsync, each touched page written once) then covers several
requests, and no request is answered before the commit that holds its events.

No savepoints (they copy every touched page in SQLite's WAL mode, measured 20-45% slower):
if any work in a group raises, the whole transaction is rolled back and each request is
run again in a transaction of its own, so one bad request never fails the others. Shared
work must therefore be safe to run twice; work that fails on purpose (a replay that meets
a conflict) takes ``database`` and a transaction of its own (``EventStore.transaction``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")


@dataclass(eq=False)
class _Request(Generic[T]):
    work: Callable[[Connection], T]
    size: int
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    result: T | None = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, engine: Engine, max_rows: int):
        self._engine = engine
        self._max_rows = max_rows
        self._lock = threading.Lock()  # guards the queue and the lead
        self._queue: deque[_Request[Any]] = deque()
        self._busy = False
        self.database = threading.Lock()  # held around every transaction of this store

    def submit(self, work: Callable[[Connection], T], size: int) -> T:
        """Run ``work`` in a transaction that may be shared; its result after the commit."""
        request = _Request(work, size)
        with self._lock:
            self._queue.append(request)
            lead = not self._busy
            self._busy = True
        if not lead:
            request.wake.wait()
        if not request.done:  # first in line, or handed the lead
            self._lead()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            group = [self._queue.popleft()]
            rows = group[0].size
            while self._queue and rows + self._queue[0].size <= self._max_rows:
                rows += self._queue[0].size
                group.append(self._queue.popleft())
        try:
            self._run(group)
        except BaseException as exc:  # interrupted: nobody waits for ever
            for request in group:
                request.error = request.error or exc
            raise
        finally:
            with self._lock:
                for request in group:
                    request.done = True
                    request.wake.set()
                if self._queue:
                    self._queue[0].wake.set()  # not done: it leads the next group
                else:
                    self._busy = False

    def _run(self, group: list[_Request[Any]]) -> None:
        try:
            with self.database, self._engine.begin() as conn:
                results = [request.work(conn) for request in group]
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            for request in group:  # find the culprit: each on its own
                self._run([request])
            return
        for request, result in zip(group, results, strict=True):
            request.result = result
