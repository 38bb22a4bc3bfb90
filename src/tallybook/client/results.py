"""What the SDK reports back: per-request results and running counters."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

from tallybook.client.errors import RejectedEvent

__all__ = ["BatchResult", "ClientStats", "StatsRecorder"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The server's answer to ``POST /v1/events`` (summed over requests by ``send()``).

    ``errors[i].index`` is the position of the rejected event in the list given to
    ``send()``, even when the SDK split that list into several requests.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: tuple[RejectedEvent, ...] = ()

    def combine(self, other: BatchResult, offset: int) -> BatchResult:
        """Sum two results; ``other``'s error indices are shifted by ``offset``."""
        shifted = tuple(replace(e, index=e.index + offset) for e in other.errors)
        return BatchResult(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            errors=self.errors + shifted,
        )


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of a client's counters, all in events except ``retries``.

    - ``queued``: events buffered right now, not yet handed to a request.
    - ``sent``: events in requests the server answered with 2xx.
    - ``accepted`` / ``duplicates`` / ``rejected``: the server's tally of those events
      (a duplicate is an id the server already had: a retry that had in fact arrived).
    - ``failed``: events given up on (non-retryable error, retries exhausted, or
      abandoned by ``close(timeout=...)``); each was passed to ``on_error``.
    - ``retries``: requests re-sent after a 429, 5xx or network error.
    """

    queued: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0


class StatsRecorder:
    """Thread-safe counters behind ``Client.stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(ClientStats)), 0)

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, amount in increments.items():
                self._counts[name] += amount

    def record_result(self, sent: int, result: BatchResult) -> None:
        self.add(
            sent=sent,
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=result.rejected,
        )

    def snapshot(self, queued: int) -> ClientStats:
        with self._lock:
            return ClientStats(**{**self._counts, "queued": queued})
