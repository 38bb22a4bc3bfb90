"""The transaction mechanics every SQL unit of work shares.

A unit of work opens one connection and one transaction on ``__enter__``; leaving the
``with`` block without ``commit()`` rolls back (an exception included). A unique-key race
lost to a concurrent writer (``IntegrityError``, raised in the block or at commit) surfaces
as the domain error ``lost_race`` gives, so services see ``WriteConflict`` and never a
driver exception. Subclasses (``BillingUnitOfWork``, ``CreditUnitOfWork``) add the reads
and writes of their port and name their conflict.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import IntegrityError

from tallybook.domain.errors import WriteConflict


class SqlUnitOfWork:
    """One connection and transaction, committed only by ``commit()``."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    def lost_race(self, error: IntegrityError) -> WriteConflict:
        """The domain error for a unique-key race lost to a concurrent writer."""
        return WriteConflict("a concurrent write won; retry", code="write_conflict")

    def __enter__(self) -> Self:
        self._conn = self._engine.connect()
        self._tx = self._conn.begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._conn is not None and self._tx is not None
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()
        if isinstance(error, IntegrityError):
            raise self.lost_race(error) from error

    @property
    def conn(self) -> Connection:
        """The open connection (only inside the ``with`` block)."""
        assert self._conn is not None, "use the unit of work in a with block"
        return self._conn

    def commit(self) -> None:
        """Commit; a unique-key race detected at commit raises ``lost_race``'s error."""
        assert self._tx is not None
        try:
            self._tx.commit()
        except IntegrityError as error:
            raise self.lost_race(error) from error
