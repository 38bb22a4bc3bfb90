"""Reads shared within one read-only page render (issue 14: the console customer page).

A page such as the console's customer page asks several services for their part (live
usage, the upcoming invoice, entitlements, alerts, the spend limit, credits), and each
service reads the customer and its subscriptions again and rates the period again: 36
queries and three ratings of the same period. Inside ``shared_reads()`` the reads that
opt in (``remembered``: the customer, the account's subscriptions, a period's rating by
``PreviewService``) are done once and handed to every later asker in the same context
(a ``contextvars`` scope: per request and thread, nothing shared across requests).

Only for reads: a caller that writes inside the scope would be answered from before its
write. Outside a scope ``remembered`` just computes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

from tallybook.services.ports import Clock

T = TypeVar("T")
_scope: ContextVar[dict[Hashable, Any] | None] = ContextVar("tallybook_shared_reads", default=None)


@contextmanager
def shared_reads() -> Iterator[None]:
    """Share the ``remembered`` reads made inside the block (nested blocks share the
    outer one's)."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def sharing() -> bool:
    """True inside a ``shared_reads`` block (a caller may then prefer the reads that
    opt in over a combined read that would not be shared)."""
    return _scope.get() is not None


def remembered(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, done once per ``key`` inside a ``shared_reads`` block (every call
    outside one reads). A key that cannot be hashed is read every time. Exceptions are
    not remembered."""
    scope = _scope.get()
    if scope is None:
        return read()
    try:
        if key in scope:
            found: T = scope[key]
            return found
    except TypeError:  # an unhashable part (a mutable value in a key): no sharing
        return read()
    value = read()
    scope[key] = value
    return value


class SteadyClock:
    """``ports.Clock`` answering one instant per ``shared_reads`` block (the first
    ``now`` read in it), so that the services a page asks rate the same "now" and share
    one rating; outside a block, ``inner``'s now."""

    def __init__(self, inner: Clock):
        self.inner = inner

    def now(self) -> datetime:
        return remembered(("now",), self.inner.now)
