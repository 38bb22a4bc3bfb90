"""The readiness probe's store check: can the store *write* now?

A store that answers ``SELECT 1`` may still refuse every write (a read-only file or
mount, a full disk, a hot standby), and then every event would be refused: ``/readyz``
must say so. ``check_writable(engine)`` opens a write transaction, updates the one row of
``alembic_version`` to itself and rolls back: nothing changes, but the store has had to
grant a write (SQLite: ``BEGIN IMMEDIATE`` takes the write lock and the statement needs a
writable file; PostgreSQL: a read-only transaction or standby refuses the UPDATE). Lock
waits are bounded (``LOCK_WAIT_MS``) so a probe never hangs behind a long writer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tallybook.adapters.store.failures import translated

LOCK_WAIT_MS = 2000
_SQLITE_BUSY_MS = 30000  # the engine's usual busy timeout (db.py), restored after the probe
_PROBE = "UPDATE alembic_version SET version_num = version_num"


def check_writable(engine: Engine) -> None:
    """Return when the store granted a (rolled back) write; raise ``StoreUnavailable``
    (or the driver's error when it is not a store failure) otherwise."""
    sqlite = engine.dialect.name == "sqlite"
    with translated(), engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        if sqlite:  # on the driver: through SQLAlchemy it would begin a transaction
            driver.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        try:
            with conn.begin() as transaction:
                if not sqlite:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
                conn.exec_driver_sql(_PROBE)
                transaction.rollback()
        finally:
            if sqlite:
                driver.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
