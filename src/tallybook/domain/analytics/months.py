"""Calendar months as ``YYYY-MM`` and their UTC edges (analytics bucket by UTC month)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tallybook.domain.errors import ValidationError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTHS = 120  # longest span an analytics query may cover (ten years)


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """One calendar month; ``start``/``end`` are its UTC edges ``[start, end)``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, field: str = "month") -> Month:
        """``"2026-01"`` -> ``Month(2026, 1)``; ``ValidationError`` (``invalid_month``)
        for anything else, or a year outside 1970-2199."""
        found = _MONTH.match(text or "")
        if found is None or not 1 <= int(found.group(2)) <= 12:
            raise ValidationError(
                f"{field} must be a month such as 2026-01, got {text!r}",
                code="invalid_month",
                details={"field": field},
            )
        year = int(found.group(1))
        if not 1970 <= year <= 2199:
            raise ValidationError(
                f"{field} must be between 1970-01 and 2199-12", code="invalid_month"
            )
        return cls(year, int(found.group(2)))

    @classmethod
    def of(cls, instant: datetime) -> Month:
        """The UTC month holding ``instant``."""
        utc = instant.astimezone(UTC)
        return cls(utc.year, utc.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    @property
    def snapshot(self) -> datetime:
        """The month's last instant (a microsecond before ``end``): MRR is measured here."""
        return self.end - timedelta(microseconds=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    def plus(self, count: int) -> Month:
        index = self.year * 12 + self.month - 1 + count
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_range(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last`` inclusive.

    ``ValidationError``: ``invalid_window`` when ``first`` is after ``last``,
    ``window_too_long`` beyond ``MAX_MONTHS``.
    """
    if first > last:
        raise ValidationError(
            f"from {first} is after to {last}",
            code="invalid_window",
            details={"from": str(first), "to": str(last)},
        )
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count > MAX_MONTHS:
        raise ValidationError(
            f"a window may cover at most {MAX_MONTHS} months, got {count}",
            code="window_too_long",
        )
    return [first.plus(n) for n in range(count)]
