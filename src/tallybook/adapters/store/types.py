"""Column types shared by every table: exact decimals, UTC instants, JSON.

- ``DecimalType``: NUMERIC on PostgreSQL, TEXT on SQLite (SQLite's NUMERIC is a float).
- ``UtcMicros``: an aware UTC datetime stored as BIGINT microseconds since the epoch:
  the same bytes and ordering on both databases, and cheap range scans.
- ``JsonType``: JSONB on PostgreSQL, JSON text on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Dialect, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from tallybook.domain.instants import EPOCH as EPOCH
from tallybook.domain.instants import from_micros as from_micros
from tallybook.domain.instants import to_micros as to_micros

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcMicros(TypeDecorator[datetime]):
    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class DecimalType(TypeDecorator[Decimal]):
    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return decimal_param(dialect)(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return decimal_result(value)


def decimal_result(value: Any) -> Decimal | None:
    """A stored ``DecimalType`` value (text on SQLite, numeric on PostgreSQL) as a Decimal."""
    return None if value is None else Decimal(str(value))


def _decimal_text(value: Decimal) -> str:
    return f"{Decimal(value):f}"


def decimal_param(dialect: Dialect) -> Callable[[Decimal], Any]:
    """How a ``DecimalType`` value is bound on ``dialect``: the exact decimal on
    PostgreSQL, its plain (never exponent) text on SQLite. Also used by the few
    raw-driver batch writes (``credits.append_many``) that bypass per-row type processing."""
    return Decimal if dialect.name == "postgresql" else _decimal_text
