"""Instants as integer microseconds since the Unix epoch (UTC): how events and stored
instants are compared, paged and kept, to the microsecond, on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(instant: datetime) -> int:
    """Microseconds since the epoch of an aware instant; ValueError for a naive one."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every stored instant is UTC-aware")
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC instant ``micros`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=micros)
