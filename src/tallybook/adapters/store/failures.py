"""Store failures, classified once for every path to the database.

Three kinds of driver error reach Tallybook: errors SQLAlchemy wraps (``DBAPIError`` and
its subclasses, through ``handle_error``), errors of the raw driver (``psycopg.Error``,
``sqlite3.Error``) on the hot paths that use a raw cursor, and pool errors (a connect that
fails, ``sqlalchemy.exc.TimeoutError`` when the pool is exhausted). ``store_error(exc)``
turns any of them into the domain error a caller can act on:

- ``StoreUnavailable`` (503 + ``Retry-After``): the store cannot do this now -- a lost or
  refused connection, the server shutting down, a read-only or full disk, an I/O error,
  a lock or deadlock that outlived the retries. The client may retry the same request
  (ingest is idempotent by event id).
- ``ValidationError`` ``invalid_value`` (422): a value the database refuses (a NUL in
  text, a number out of range) -- bad client input.
- ``None``: not a store failure (a constraint the code relies on, a bug): left as it is.

``is_transient(exc)`` tells the failures worth retrying inside the server at once
(PostgreSQL deadlock ``40P01`` and serialization failure ``40001``), and
``with_retries(fn)`` re-runs a whole transaction on them, a bounded number of times with
jittered exponential backoff. PostgreSQL SQLSTATE classes: PostgreSQL manual, Appendix A.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from sqlalchemy import exc as sa_exc

from tallybook.domain.errors import StoreUnavailable, TallybookError, ValidationError

T = TypeVar("T")

RETRY_AFTER_SECONDS = 5  # what a 503 for a lost store tells clients to wait
BUSY_RETRY_AFTER_SECONDS = 1  # a deadlock or lock that outlived the retries
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
# connection exception, invalid transaction state (read-only), transaction rollback,
# insufficient resources (disk full), operator intervention (shutdown), system (I/O) error
_UNAVAILABLE_CLASSES = ("08", "25", "40", "53", "57", "58")
RETRIES = 5
# every exception class a store failure can surface as, for handlers that must catch them
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    psycopg.Error,
    sqlite3.Error,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver error it wraps, and its causes (bounded)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, sa_exc.DBAPIError):
            todo.append(current.orig)
        todo += [current.__cause__, current.__context__]


def _sqlstate(exc: BaseException) -> str | None:
    for error in _chain(exc):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def is_transient(exc: BaseException) -> bool:
    """A deadlock or serialization failure: re-running the transaction may succeed."""
    return _sqlstate(exc) in TRANSIENT_SQLSTATES


def unavailable(message: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> StoreUnavailable:
    """The 503 error; ``details.retry_after`` (seconds) becomes the ``Retry-After`` header."""
    return StoreUnavailable(message, details={"retry_after": retry_after})


def store_error(exc: BaseException) -> TallybookError | None:
    """The domain error for a driver or pool failure, or None when ``exc`` is not one."""
    if isinstance(exc, TallybookError):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):
        return unavailable("no database connection was free in time", retry_after=1)
    driver = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return unavailable("the database connection was lost")
    if is_transient(exc):
        return unavailable(
            "the database was busy (deadlock or serialization failure); retry",
            retry_after=BUSY_RETRY_AFTER_SECONDS,
        )
    if isinstance(driver, psycopg.Error):
        return _psycopg_error(driver)
    if isinstance(driver, sqlite3.Error):
        return _sqlite_error(driver)
    return None


def _psycopg_error(error: psycopg.Error) -> TallybookError | None:
    state = error.sqlstate or ""
    if isinstance(error, psycopg.DataError):
        return _refused()
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError) or state.startswith(
        _UNAVAILABLE_CLASSES
    ):
        return unavailable(f"the database cannot be used: {_first_line(error)}")
    return None


def _sqlite_error(error: sqlite3.Error) -> TallybookError | None:
    if isinstance(error, sqlite3.InterfaceError | sqlite3.DataError):
        return _refused()  # sqlite3 reports a parameter it cannot bind as InterfaceError
    if isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError:
        # read-only file, disk I/O error, disk full, locked, not a database / malformed
        return unavailable(f"the database cannot be used: {_first_line(error)}")
    return None


def _refused() -> ValidationError:
    return ValidationError(
        "a value was refused by the store (e.g. a NUL character or a number out of range)",
        code="invalid_value",
    )


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


@contextmanager
def translated() -> Iterator[None]:
    """Raise the domain error for any store failure in the block (raw driver paths)."""
    try:
        yield
    except Exception as exc:
        domain = store_error(exc)
        if domain is None or domain is exc:
            raise
        raise domain from exc


def with_retries(
    transaction: Callable[[], T], *, attempts: int = RETRIES, base_delay: float = 0.02
) -> T:
    """Run ``transaction`` (a whole transaction: it must be safe to re-run), again after a
    deadlock or serialization failure, up to ``attempts`` times, sleeping a random
    ``[0, base_delay * 2**n)`` seconds between tries ("full jitter")."""
    for attempt in range(attempts):
        try:
            return transaction()
        except Exception as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
        time.sleep(random.uniform(0, base_delay * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
