"""Request helpers every JSON route shares: strict bodies, and decimal, instant and page-size
fields that arrive as JSON strings (or numbers) and become coded 422s when malformed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tallybook.domain.errors import ValidationError
from tallybook.domain.money import to_decimal
from tallybook.domain.periods import PeriodError, parse_instant

# A decimal in JSON: a string ("10.00") or a number; converted with ``decimal_field``.
DecimalIn = Annotated[str | int | float, Field(union_mode="left_to_right")]
InstantIn = Annotated[str, Field(min_length=1, max_length=64, examples=["2026-01-15T00:00:00Z"])]
IdIn = Annotated[str, Field(min_length=1, max_length=255)]
MAX_LIMIT = 100
CURSOR_HELP = "next_cursor of the previous page"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class Strict(BaseModel):
    """A request body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


def decimal_field(name: str, value: str | int | float | None) -> Decimal | None:
    """A decimal body field (string or number, |value| < 10**18); ValidationError otherwise."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) > 40:
        raise ValidationError(f"{name} is too long for a decimal", code="invalid_number")
    result = to_decimal(value, field=name)
    if abs(result) >= Decimal(10) ** 18:
        raise ValidationError(f"{name} is out of range", code="invalid_number")
    return result


def instant_field(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 instant between 1970 and 2199 (billing periods are computed from it)."""
    if value is None:
        return None
    try:
        instant = parse_instant(value)
    except PeriodError:
        instant = None
    if instant is None or not EARLIEST <= instant < LATEST:
        raise ValidationError(
            f"{name} must be an RFC 3339 timestamp between 1970 and 2199 such as "
            f"2026-01-15T00:00:00Z, got {value!r}",
            code="invalid_instant",
            details={"field": name},
        )
    return instant


def page_limit(limit: int) -> int:
    """A page size of 1-``MAX_LIMIT``; ValidationError ``invalid_limit`` otherwise."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1-{MAX_LIMIT}", code="invalid_limit")
    return limit
