"""Helpers the analytics, backtest and experiment routes share: CSV answers, refusing
unknown query parameters, and opaque pagination cursors.

CSV: a header row, then one row per record; decimals as plain strings, None as empty.
A cursor is the last key of a page, base64url-encoded; clients pass it back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from tallybook.domain.errors import ValidationError

MAX_PAGE = 1000


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A ``text/csv`` attachment of ``rows`` under ``header``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    return limit


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The key a cursor stands for; ``invalid_cursor`` when it was not made here."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError("cursor is not valid", code="invalid_cursor") from None


def page_json(data: list[dict[str, Any]], last_key: str | None, limit: int) -> dict[str, Any]:
    """``{"data", "has_more", "next_cursor"}``: a full page may have more."""
    more = len(data) == limit and last_key is not None
    return {
        "data": data,
        "has_more": more,
        "next_cursor": encode_cursor(last_key) if more and last_key is not None else None,
    }
