"""What every capability's ports share: the clock, the JSON document type."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

JsonDict = dict[str, Any]


class Clock(Protocol):
    """Services take a clock so tests and billing runs can set "now"."""

    def now(self) -> datetime: ...
