"""``ClientCore``: everything ``Client`` and ``AsyncClient`` do that is not waiting or I/O.

The SDK is split the sans-I/O way (as h11 does for HTTP, or the Stripe SDK's requestor
for its sync and async clients): this core owns the options (``config.py``), the buffer
and its bookkeeping (``buffer.py``), the counters (``results.py``), request building,
retries and response parsing (``delivery.py``: the same bytes, hence the same event ids,
are re-sent on every retry, which is what makes delivery idempotent), error mapping and
the ``on_error`` reports. It never blocks, sleeps, locks or touches the network.

The two clients are thin shells around it. Each one

- guards the core with its own lock (``threading.Lock`` or ``asyncio.Condition``) and
  does the waiting the core asks for (:class:`Wait`, the ``flushed`` predicate);
- sends ``check()``'s one GET (:meth:`ClientCore.check_request`, then
  :meth:`ClientCore.check_result` or :meth:`ClientCore.check_failed`);
- drives the generators the core returns (:meth:`ClientCore.plan_send`,
  :meth:`ClientCore.plan_batch`): for a :class:`~tallybook.client.delivery.Post` step it
  POSTs ``step.body`` to ``step.path`` with its httpx client and sends back the response
  or the ``httpx.TransportError``; for a :class:`~tallybook.client.delivery.Sleep` step
  it sleeps, sending back ``True`` if the client is being shut down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import httpx

from tallybook.client.buffer import EventBuffer
from tallybook.client.config import ClientOptions, ClientSettings
from tallybook.client.delivery import Delivery, Post, Sleep, plan_delivery, problems
from tallybook.client.entitlements import Entitlement, check_request, parse_entitlement
from tallybook.client.errors import (
    ClientClosedError,
    DeliveryError,
    NetworkError,
    QueueFullError,
    TallybookError,
)
from tallybook.client.events import Event, event_from_mapping
from tallybook.client.results import BatchResult, ClientStats, StatsRecorder

__all__ = ["ClientCore", "Done", "Wait", "advance"]

logger = logging.getLogger("tallybook.client")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Wait:
    """No batch is due: wait for news, at most ``seconds`` (None: until notified)."""

    seconds: float | None


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A plan has finished with ``value`` (its generator's return value)."""

    value: T


def advance(plan: Generator[Post | Sleep, Any, T], reply: Any) -> Post | Sleep | Done[T]:
    """Send ``reply`` (None to start) into ``plan``; its next step, or :class:`Done`.

    Exceptions the plan raises (``send()``'s errors) propagate to the caller.
    """
    try:
        return plan.send(reply)
    except StopIteration as stop:
        return Done(stop.value)


class ClientCore:
    """State and decisions of one client. Not thread-safe: shells call it under their lock
    (except ``plan_*``, ``crashed``, ``report`` and ``stats``, which are safe without it).

    ``on_error`` is stored untouched; :meth:`report` calls it and hands back whatever it
    returned, so the async shell can await a coroutine.
    Raises ``ValueError`` for a bad option (see ``ClientOptions``).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        on_error: Callable[[TallybookError, list[Event]], object] | None,
        settings: ClientSettings,
    ) -> None:
        self.options = ClientOptions(api_key, base_url, **settings)
        self.policy = self.options.retry_policy()
        self.on_error = on_error
        self.recorder = StatsRecorder()
        self.buffer = EventBuffer(
            self.options.batch_size, self.options.flush_interval, self.options.max_queue
        )
        self.closing = False  # no more track(); set by close()
        self.stopping = False  # the worker exits once the buffer is empty
        self.closed = False

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for the shell's ``httpx.Client`` / ``httpx.AsyncClient``."""
        return self.options.http_options()

    # -- buffering (call under the shell's lock) ---------------------------------------

    def must_wait_for_room(self) -> bool:
        """True while ``track()`` should wait: the buffer is full and the client is open."""
        return self.buffer.full and not self.closing

    def enqueue(self, event: Event) -> bool:
        """Buffer ``event`` once waiting is over; True if the worker should be woken.

        Raises ``ClientClosedError`` if the client is closing, ``QueueFullError`` if the
        buffer is still full.
        """
        if self.closing:
            raise ClientClosedError("the client is closed; the event was not tracked")
        if self.buffer.full:
            raise QueueFullError(
                f"{self.options.max_queue} events are waiting to be sent (max_queue); "
                "the event was not tracked. Is the server slow or unreachable?"
            )
        return self.buffer.append(event)

    def request_flush(self) -> int:
        """Make everything buffered due now; return the target for :meth:`flushed`."""
        return self.buffer.request_flush()

    def flushed(self, target: int) -> bool:
        """True once every event counted in ``target`` is delivered or given up on."""
        return self.buffer.flushed(target)

    def next_batch(self, aborted: bool) -> list[Event] | Wait | None:
        """The worker's next move: a batch to deliver, a :class:`Wait`, or None to exit.

        ``aborted``: the shell's abort flag (``close(timeout=...)`` ran out of time).
        """
        if aborted:
            return None
        wait = self.buffer.seconds_until_due(stopping=self.stopping)
        if wait is None and self.stopping:
            return None
        if wait == 0:
            return self.buffer.take()
        return Wait(wait)

    def settle(self, count: int) -> None:
        """Record that ``count`` taken events are delivered or reported."""
        self.buffer.settle(count)

    def abandon(self, leftovers: list[Event]) -> Delivery | None:
        """After an aborted close: the failure to report for events never sent, if any."""
        if not leftovers:
            return None
        self.recorder.add(failed=len(leftovers))
        error = ClientClosedError(f"client closed before {len(leftovers)} events were sent")
        return Delivery(failures=[(error, leftovers)])

    # -- delivery (no lock needed) ------------------------------------------------------

    def plan_batch(self, events: list[Event]) -> Generator[Post | Sleep, Any, Delivery]:
        """Deliver one buffered batch: retries and 413 splitting, never raises for HTTP."""
        return plan_delivery(events, self.policy, self.recorder)

    def plan_send(
        self, events: Iterable[Mapping[str, Any]]
    ) -> Generator[Post | Sleep, Any, BatchResult]:
        """``send()``: deliver ``events`` in chunks of ``batch_size``; return the summed tally.

        Raises ``ClientClosedError`` if the client is closing, ``InvalidEventError`` for a
        bad event (before anything is sent), and the ``ApiError``/``NetworkError`` of a
        chunk that failed for good, with ``events`` set to every event from that chunk on.
        """
        if self.closing:
            raise ClientClosedError("the client is closed")
        wire = [event_from_mapping(event) for event in events]
        total = BatchResult()
        size = self.options.batch_size
        for start in range(0, len(wire), size):
            delivery = yield from self.plan_batch(wire[start : start + size])
            if delivery.failures:
                error = delivery.failures[0][0]
                if isinstance(error, DeliveryError):
                    error.events = wire[start:]
                raise error
            total = total.combine(delivery.result, start)
        return total

    def crashed(self, events: list[Event], exc: Exception) -> Delivery:
        """A batch whose delivery raised unexpectedly (a bug, a custom transport's error)."""
        logger.exception("unexpected error while sending %d events", len(events), exc_info=exc)
        self.recorder.add(failed=len(events))
        error = TallybookError(f"unexpected error: {exc!r}")
        error.__cause__ = exc
        return Delivery(failures=[(error, events)])

    def report(self, delivery: Delivery) -> list[object]:
        """Log ``delivery``'s problems and pass each to ``on_error``; return what it returned.

        An exception raised by ``on_error`` is logged and ignored.
        """
        outcomes: list[object] = []
        for error, events in problems(delivery):
            if self.on_error is None:
                continue
            try:
                outcomes.append(self.on_error(error, events))
            except Exception:
                logger.exception("on_error callback raised")
        return outcomes

    # -- entitlement checks (no lock needed) ------------------------------------------

    def check_request(
        self, customer: str, feature: str, units: int | str | Decimal
    ) -> tuple[str, dict[str, str]]:
        """``check()``'s path and query (``ValueError`` for bad arguments)."""
        if self.closed:
            raise ClientClosedError("the client is closed")
        return check_request(customer, feature, units)

    def check_result(self, response: httpx.Response) -> Entitlement:
        """``check()``'s answer, or the ``ApiError`` it stands for (raised)."""
        return parse_entitlement(response)

    def check_failed(self, exc: httpx.TransportError) -> NetworkError:
        """The ``NetworkError`` a check that got no answer raises."""
        error = NetworkError(f"entitlement check got no answer: {exc!r}")
        error.__cause__ = exc
        return error

    # -- views ----------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        return self.recorder.snapshot(queued=len(self.buffer))

    def describe(self, kind: str) -> str:
        """``repr()`` of the shell, e.g. ``<Client base_url='http://...' closed=False>``."""
        return f"<{kind} base_url={self.options.base_url!r} closed={self.closed}>"
