"""One pagination style for every list: ``limit`` (1-1000) and an opaque ``cursor``.

A list answers ``{"data": [...], "next_cursor": "..." | null}``; passing ``next_cursor`` back
as ``cursor`` gives the next page, and ``null`` means the last page was reached (CONTRACT
Part 2: "``limit`` <= 1000, opaque ``cursor``"). A cursor is the keyset position of the last
item shown (e.g. ``[id]`` or ``[number, id]``), JSON in URL-safe base64: clients must not
build or parse it; the server checks its shape and answers ``422 invalid_cursor`` otherwise.

Services fetch ``limit + 1`` rows and call :func:`page_of`, so ``next_cursor`` is only given
when another item really exists (no empty last page).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tallybook.domain.errors import ValidationError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
MAX_CURSOR = 2048

T = TypeVar("T")
KeyPart = str | int | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: the items and the cursor of the next page (None at the end)."""

    items: Sequence[T]
    next_cursor: str | None


def check_limit(limit: int) -> int:
    """``limit`` when 1..1000, else ``ValidationError`` ``invalid_limit``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be 1-{MAX_LIMIT}, got {limit}",
            code="invalid_limit",
            details={"limit": limit, "max": MAX_LIMIT},
        )
    return limit


def encode_cursor(key: Sequence[KeyPart]) -> str:
    """The opaque cursor of a keyset position (a short list of strings, ints or nulls)."""
    raw = json.dumps(list(key), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, shape: Sequence[type]) -> tuple[KeyPart, ...] | None:
    """The keyset position in ``cursor`` (None for no cursor).

    ``shape`` gives the type of each part (``str`` or ``int``; a part may also be null).
    Raises ``ValidationError`` ``invalid_cursor`` for anything this API did not return.
    """
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(parts, list) or len(parts) != len(shape):
            raise ValueError("shape")
        for part, kind in zip(parts, shape, strict=True):
            if part is not None and (type(part) is not kind):
                raise ValueError("type")
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError(
            "cursor is not one this API returned: pass next_cursor from the previous page",
            code="invalid_cursor",
        ) from None
    return tuple(parts)


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], Sequence[KeyPart]]) -> Page[T]:
    """The page from ``limit + 1`` fetched rows: the first ``limit`` and, when a further row
    exists, the cursor of the last row shown."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(key(items[-1])) if more and items else None)
