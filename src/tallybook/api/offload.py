"""CPU-heavy request work off the event loop, a bounded number at a time.

Parsing and validating a document (a catalog of a megabyte is seconds of pure Python)
must never run on the event loop, or every tenant's requests (``/healthz`` included) wait
behind it. ``offload(request, fn, *args)`` runs ``fn`` in a worker thread; at most
``PARSERS`` such calls run at once per app (``anyio.CapacityLimiter``, waiting on the loop
without holding a thread), so a flood of hostile documents cannot take every thread or
starve the loop of the GIL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request

T = TypeVar("T")
PARSERS = 2


def install_limiter(app: FastAPI) -> None:
    """Create the app's limiter (call inside the running loop: the app's lifespan)."""
    app.state.parse_limiter = anyio.CapacityLimiter(PARSERS)


async def offload(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, under the app's parse limiter when installed."""
    limiter = getattr(request.app.state, "parse_limiter", None)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)
