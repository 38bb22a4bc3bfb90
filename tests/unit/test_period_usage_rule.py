"""``domain.analytics.period_usage``: which lines of a final period invoice make the
summary rows, and which periods an invoice's adjustments make stale."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tallybook.domain.analytics.period_usage import MARKER, period_usage, stale_periods

JAN, FEB, MAR = (datetime(2025, m, 1, tzinfo=UTC) for m in (1, 2, 3))


def _line(kind: str, charge: str, amount: str, start: str, end: str, **extra: Any) -> dict:
    return {
        "type": kind,
        "charge": charge,
        "amount": amount,
        "period_start": start,
        "period_end": end,
        "used": extra.pop("used", None),
        "included": extra.pop("included", None),
        "dimension": extra.pop("dimension", None),
        "customer": extra.pop("customer", "c1"),
        "subscription": extra.pop("subscription", "s1"),
        **extra,
    }


J0, J1, F1 = "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"


def test_rows_of_one_period_invoice() -> None:
    lines = [
        _line("usage", "api", "3.00", J0, J1, used="1300", included="1000"),
        _line("usage", "tok", "1.00", J0, "2025-01-10T00:00:00Z", used="10", included="5"),
        _line("usage", "tok", "2.00", "2025-01-10T00:00:00Z", J1, used="20", included="5"),
        _line("usage", "dim", "0.50", J0, J1, used="7", included="0", dimension="big"),
        _line("usage", "roll", "0.00", J0, J1, used="7", included="9", rolled_over="2"),
        _line("flat", "platform", "30.00", J1, F1),  # the next period's fee: no usage
        _line("adjustment", "api", "0.40", "2024-12-01T00:00:00Z", J0),
        _line("usage", "api", "9.00", J0, J1, used="9", subscription=None),  # no schedule
        _line(
            "usage",
            "api",
            "1.00",
            J0,
            J1,
            used="5",
            included="0",
            subscription="s2",
            customer="child",
        ),
    ]
    rows = {(r.subscription, r.charge): r for r in period_usage(lines, "c1", JAN, FEB)}
    assert set(rows) == {
        ("s1", MARKER),
        ("s2", MARKER),
        ("s1", "api"),
        ("s1", "tok"),
        ("s1", "dim"),
        ("s1", "roll"),
        ("s2", "api"),
    }
    api = rows[("s1", "api")]
    assert (api.used, api.amount, api.lines, api.included) == (
        Decimal(1300),
        Decimal("3.00"),
        1,
        Decimal(1000),
    )
    assert (api.span_start, api.span_end, api.plain) == (JAN, FEB, True)
    tok = rows[("s1", "tok")]
    assert (tok.used, tok.amount, tok.lines, tok.plain) == (Decimal(30), Decimal(3), 2, False)
    assert not rows[("s1", "dim")].plain and not rows[("s1", "roll")].plain
    assert rows[("s2", "api")].customer == "child"
    assert rows[("s1", MARKER)].lines == 0


def test_adjustments_name_stale_periods() -> None:
    lines = [
        _line("adjustment", "api", "0.40", "2024-12-01T00:00:00Z", J0),
        _line(
            "adjustment",
            "api",
            "0.10",
            "2024-11-01T00:00:00Z",
            "2024-12-01T00:00:00Z",
            subscription="s9",
        ),
        _line("usage", "api", "3.00", J0, J1, used="1300"),
    ]
    assert stale_periods(lines) == {
        ("s1", datetime(2024, 12, 1, tzinfo=UTC)),
        ("s9", datetime(2024, 11, 1, tzinfo=UTC)),
    }
