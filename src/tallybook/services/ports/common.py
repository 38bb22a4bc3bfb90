"""What every capability's ports share: the clock, the JSON document type, the shape of a
unit of work."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

T = TypeVar("T")

JsonDict = dict[str, Any]


class Clock(Protocol):
    """Services take a clock so tests and billing runs can set "now"."""

    def now(self) -> datetime: ...


class UnitOfWork(Protocol):
    """A transaction used as ``with uow: ... uow.commit()``: rolled back on leaving the
    block unless ``commit`` was called. Each port's unit of work adds its reads and writes."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...
