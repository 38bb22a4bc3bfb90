"""Engine construction for the two supported stores.

SQLite (embedded default) runs in WAL mode with ``BEGIN IMMEDIATE`` write transactions,
so concurrent writers queue on the database lock instead of failing half-way
(datasette's discipline); PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.pool import StaticPool

from tallybook.adapters.store.failures import store_error, unavailable


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, echo=echo)
    else:
        engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)
    event.listen(engine, "handle_error", translate_driver_error)
    return engine


def translate_driver_error(context: ExceptionContext) -> None:
    """Driver errors become domain errors at this edge (ARCHITECTURE.md, adapters).

    Called by SQLAlchemy for statement errors and for failed pool connects. A value the
    database refuses (a NUL character in a text column, a number out of the column's
    range) is bad client input, so it is a coded 4xx rather than a 500; a lost, refused,
    read-only or failing store is 503 ``store_unavailable`` (see ``failures``). Anything
    else (an integrity error the caller handles, a bug) is left as it is.
    """
    if context.is_pre_ping:
        return  # the pool's liveness ping: SQLAlchemy reconnects, or the connect fails
    error: BaseException = context.sqlalchemy_exception or context.original_exception
    if context.is_disconnect:
        raise unavailable("the database cannot be reached") from context.original_exception
    domain = store_error(error)
    if domain is not None:
        raise domain from context.original_exception


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged event survives power loss, not just a crash (same
        # measured cost as NORMAL on these machines, CEILINGS.md).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
