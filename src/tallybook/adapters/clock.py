"""Clocks. Services take a clock so tests and billing runs can set "now"."""

from __future__ import annotations

from datetime import UTC, datetime

from tallybook.services.ports import Clock as Clock  # the port these implement


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests and scenarios: ``set`` or ``advance`` it explicitly."""

    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now
