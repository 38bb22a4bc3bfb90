"""How provider calls are retried: the same request (same idempotency key) again after a
timeout, a connection error or a 5xx, with exponential back-off; after a 429 every worker
of the process waits the ``Retry-After`` the provider asked for (``RateGate``).

A wait longer than ``max_wait`` is not slept in process: the error goes up and the
invoice stays ``pending`` with its next attempt that far away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tallybook.services.ports import ProviderError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts``: tries per call; ``base``: first back-off in seconds (doubled each
    time); ``max_wait``: the longest wait (back-off or ``Retry-After``) taken in process."""

    attempts: int = 4
    base: int = 1
    max_wait: int = 60


class RateGate:
    """One pause shared by every worker thread: after a 429, nobody calls before the
    provider's ``Retry-After`` has passed."""

    def __init__(self, sleep: Callable[[int | float], None] = time.sleep):
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._sleep = sleep
        self.pauses = 0

    def pause(self, seconds: int) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)
            self.pauses += 1

    def wait(self) -> None:
        while True:
            with self._lock:
                left = self._resume_at - time.monotonic()
            if left <= 0:
                return
            self._sleep(left)


def call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    gate: RateGate,
    sleep: Callable[[int | float], None] = time.sleep,
) -> T:
    """``fn()`` with retries of retryable ``ProviderError``s (see the module docstring)."""
    attempt = 0
    while True:
        gate.wait()
        try:
            return fn()
        except ProviderError as exc:
            attempt += 1
            if not exc.retryable or attempt >= policy.attempts:
                raise
            if exc.retry_after is not None:
                if exc.retry_after > policy.max_wait:
                    raise
                gate.pause(exc.retry_after)
                continue
            delay = policy.base * 2 ** (attempt - 1)
            if delay > policy.max_wait:
                raise
            sleep(delay)
