"""The contract's JSON conventions (orjson): decimals as plain strings, never floats;
instants RFC 3339 UTC with a trailing ``Z``. Used by the API, the documents and the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _default_stdlib(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return _default(value)


def dumps(content: Any) -> bytes:
    """JSON bytes; Decimals as plain strings, instants as RFC 3339 UTC with ``Z``.

    orjson refuses integers outside 64 bits (a client can send ``limit=-9223372036854775809``
    and see it echoed in an error's details); those bodies are written by the standard
    library instead, exactly."""
    try:
        return orjson.dumps(
            content, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
        )
    except orjson.JSONEncodeError:
        text = json.dumps(
            content, default=_default_stdlib, ensure_ascii=False, separators=(",", ":")
        )
        return text.encode()


def iso(instant: datetime | None) -> str | None:
    """RFC 3339 UTC with a trailing Z, as every output instant is."""
    if instant is None:
        return None
    return orjson.dumps(instant, option=orjson.OPT_UTC_Z).decode()[1:-1]
