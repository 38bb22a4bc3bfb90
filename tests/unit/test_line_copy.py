"""``Line.for_period`` / ``owned_by`` copy a line without ``dataclasses.replace``: the
copy must be exactly what ``replace`` gives, whatever the line holds."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from decimal import Decimal

from tallybook.domain.billing.lines import Line, LineTax, LineType
from tallybook.domain.pricing.result import TierSlice

T0, T1, T2 = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3))


def _full() -> Line:
    """A line with every field set to something other than its default."""
    return Line(
        type=LineType.USAGE,
        charge="api",
        description="API calls",
        quantity=Decimal("1200"),
        unit_amount=Decimal("0.01"),
        amount=Decimal("12.00"),
        used=Decimal("1500"),
        included=Decimal("300"),
        breakdown=(
            TierSlice(0, Decimal(1), None, Decimal(1200), Decimal("0.01"), Decimal(0), Decimal(12)),
        ),
        dimension="eu",
        period_start=T0,
        period_end=T1,
        customer="child",
        subscription="sub_1",
        rolled_over=Decimal("100"),
        credited=Decimal("2.00"),
        taxes=(LineTax("vat", "VAT", Decimal(19), False, Decimal(10), Decimal("1.90")),),
    )


def test_the_copies_are_what_replace_gives() -> None:
    for line in (_full(), Line(LineType.FLAT, "fee", "Fee", Decimal(1), None, Decimal(5))):
        moved = line.for_period(T1, T2)
        assert moved == replace(line, period_start=T1, period_end=T2)
        owned = line.owned_by("parent", "sub_2")
        assert owned == replace(line, customer="parent", subscription="sub_2")
        for field in fields(Line):  # nothing else changed, field by field
            if field.name not in ("period_start", "period_end"):
                assert getattr(moved, field.name) is getattr(line, field.name)
            if field.name not in ("customer", "subscription"):
                assert getattr(owned, field.name) is getattr(line, field.name)
