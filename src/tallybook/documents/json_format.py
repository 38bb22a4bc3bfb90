"""The contract's JSON conventions (orjson): decimals as plain strings, never floats;
instants RFC 3339 UTC with a trailing ``Z``. Used by the API, the documents and the CLI."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(content: Any) -> bytes:
    """``content`` as JSON bytes; Decimal as its plain string, datetimes as UTC ``Z``."""
    return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def iso(instant: datetime | None) -> str | None:
    """RFC 3339 UTC with a trailing Z, as every output instant is."""
    if instant is None:
        return None
    return orjson.dumps(instant, option=orjson.OPT_UTC_Z).decode()[1:-1]
