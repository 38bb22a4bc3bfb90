"""CPU-heavy request work off the event loop, a bounded number at a time.

Parsing and validating a document (a catalog of a megabyte is seconds of pure Python)
must never run on the event loop, or every tenant's requests (``/healthz`` included) wait
behind it. ``offload(request, fn, *args)`` runs ``fn`` in a worker thread; at most
``PARSERS`` such calls run at once per app (``anyio.CapacityLimiter``, waiting on the loop
without holding a thread), so a flood of hostile documents cannot take every thread or
starve the loop of the GIL.

While offloaded work runs, the cyclic garbage collector is paused (``gc_paused``): a
parsed document is a fresh graph of many thousand dicts and lists, and each full
collection it triggers walks the whole heap holding the GIL -- measured 280-520 ms stalls
of every other thread (the event loop included) for a 256 KiB YAML catalog, and the parse
itself 6 times slower. Documents are trees (no reference cycles) freed by reference
counting, so nothing is lost; collection resumes when the last offloaded call ends.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request

T = TypeVar("T")
PARSERS = 2
_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the block runs (re-entrant across
    threads: collection resumes when the last block ends, if it was enabled before)."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _paused(fn: Callable[[], T]) -> T:
    with gc_paused():
        return fn()


def install_limiter(app: FastAPI) -> None:
    """Create the app's limiter (call inside the running loop: the app's lifespan)."""
    app.state.parse_limiter = anyio.CapacityLimiter(PARSERS)


async def offload(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread with the garbage collector paused, under the app's
    parse limiter when installed."""
    limiter = getattr(request.app.state, "parse_limiter", None)
    work = functools.partial(_paused, functools.partial(fn, *args))
    return await anyio.to_thread.run_sync(work, limiter=limiter)
