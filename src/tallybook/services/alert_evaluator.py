"""The alert evaluator: a background thread that evaluates the customers ingest marked.

Step 2 of the flow in ``services/alerts.py``: claim marked customers with a lease, evaluate
each (``AlertService.evaluate``), remove the mark unless ingest touched the customer again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tallybook.services.alerts import AlertService
from tallybook.services.ports import AlertQueue, Clock, PendingAlerts

log = logging.getLogger("tallybook.alerts")


class AlertEvaluator:
    """Evaluates the customers ingest marked, soon after each commit (see module doc).

    ``wake`` is called after every ingest commit; ``run_once`` claims and evaluates one
    batch; ``drain`` evaluates until nothing is marked (tests, benchmarks); ``start`` and
    ``stop`` run it in a background thread that also looks every ``poll_seconds`` for
    marks it was not woken for (another process's, or a killed evaluator's).

    The thread works in passes (``run_pass``) and **debounces**: a pass evaluates each
    marked customer once (a customer claimed again within the pass, because ingest
    touched it meanwhile, is released and ends the pass), and the next pass starts no
    sooner than ``debounce_seconds`` after this one started. Under sustained ingest a
    busy customer is so evaluated at most once per ``debounce_seconds`` (its marks pile
    up and one evaluation answers them all) instead of after every batch; a threshold
    still fires exactly once, by the store's unique key.

    ``after_customer(tenant_id, customer)``, when set, runs after each marked customer's
    alerts were evaluated (bootstrap wires the spend-limit check, so a limit is reached
    right after the ingest that crossed it, not only on the scheduler's sweep); it must not
    raise (a failure there does not re-queue the customer's alerts)."""

    def __init__(
        self,
        service: AlertService,
        queue: AlertQueue,
        clock: Clock,
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 30.0,
        batch: int = 50,
        debounce_seconds: float = 0.0,
    ):
        self._service = service
        self._queue = queue
        self._clock = clock
        self._poll = poll_seconds
        self._lease = lease_seconds
        self._batch = batch
        self._debounce = debounce_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.after_customer: Callable[[str, str], object] | None = None

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Claim and evaluate one batch; returns how many customers were claimed."""
        claimed = self._queue.claim(self._clock.now(), self._lease, self._batch)
        for pending in claimed:
            self._evaluate(pending)
        return len(claimed)

    def run_pass(self) -> int:
        """Evaluate every marked customer at most once: claim batches until none is left
        or one holds a customer this pass evaluated already (it is released for the next
        pass); returns how many customers were evaluated."""
        seen: set[tuple[str, str]] = set()
        while not self._stop.is_set():
            claimed = self._queue.claim(self._clock.now(), self._lease, self._batch)
            again = [p for p in claimed if (p.tenant_id, p.customer) in seen]
            for pending in claimed:
                if (pending.tenant_id, pending.customer) in seen:
                    continue
                seen.add((pending.tenant_id, pending.customer))
                self._evaluate(pending)
            for pending in again:
                self._queue.release(pending)
            if not claimed or again:
                break
        return len(seen)

    def _evaluate(self, pending: PendingAlerts) -> None:
        try:
            self._service.evaluate(pending.tenant_id, pending.customer)
        except Exception:
            log.exception("alert evaluation failed", extra={"customer": pending.customer})
            self._queue.release(pending)
            return
        self._queue.done(pending)
        if self.after_customer is not None:
            self.after_customer(pending.tenant_id, pending.customer)

    def drain(self, rounds: int = 1000) -> int:
        """Evaluate until nothing is marked (at most ``rounds`` batches)."""
        total = 0
        for _ in range(rounds):
            claimed = self.run_once()
            total += claimed
            if not claimed:
                break
        return total

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alert-evaluator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            began = time.monotonic()
            try:
                self.run_pass()
            except Exception:
                log.exception("alert evaluator pass failed")
            rest = self._debounce - (time.monotonic() - began)
            if rest > 0:
                self._stop.wait(rest)  # wakes meanwhile stay set: the next pass follows
