"""Invoice totals, discounts, adjustments, numbering, status rules and the line shape."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.billing.adjustments import Billed, adjustment_lines
from tallybook.domain.billing.discounts import discount_lines
from tallybook.domain.billing.invoice import Invoice, InvoiceDraft, InvoiceStatus, totals
from tallybook.domain.billing.lines import Line, LineType, line_from_dict, line_to_dict
from tallybook.domain.billing.numbering import format_number, invoice_prefix, parse_number
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.errors import Conflict
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.pricing.result import TierSlice
from tallybook.domain.subscriptions.model import (
    Discount,
    DiscountKind,
    Phase,
    PlanRef,
    Subscription,
)

D = Decimal
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def item(
    amount: str, kind: LineType = LineType.FLAT, charge: str = "fee", quantity: str = "1"
) -> Line:
    return Line(kind, charge, f"{charge} line", D(quantity), D(amount), D(amount))


def line(amount: str, kind: LineType = LineType.FLAT) -> Line:
    return item(amount, kind).owned_by("c1", "sub_1")


def sub_with(*discounts: Discount) -> Subscription:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    return Subscription(
        "sub_1",
        "c1",
        "USD",
        start,
        "UTC",
        Interval.MONTH,
        Anchor.CALENDAR,
        (Phase(PlanRef("p", 1), start),),
        discounts=discounts,
    )


def test_totals_separate_discounts_and_credits() -> None:
    found = totals(
        [line("100.00"), line("-10.00", LineType.DISCOUNT), line("-5.00", LineType.CREDIT)], "USD"
    )
    assert (found.subtotal, found.discount_total, found.credits_applied, found.total) == (
        D("100.00"),
        D("10.00"),
        D("5.00"),
        D("85.00"),
    )
    assert str(totals([], "JPY").total) == "0"


def test_a_percent_discount_takes_its_share_of_this_invoice() -> None:
    sub = sub_with(Discount("d1", DiscountKind.PERCENT, D(10), sub_with().start, periods=1))
    period = next(sub.periods())
    found = discount_lines(sub, period, [item("105.00"), item("3.00", LineType.ADJUSTMENT)], [])
    assert [(x.type, x.amount) for x in found] == [(LineType.DISCOUNT, D("-10.50"))]
    second = sub.next_period(period)
    assert second is not None and discount_lines(sub, second, [item("100.00")], []) == []


def test_a_fixed_discount_is_given_once_per_period_across_invoices() -> None:
    sub = sub_with(Discount("d1", DiscountKind.FIXED, D("30.00"), sub_with().start))
    period = next(sub.periods())
    advance = [item("20.00")]
    on_opening = discount_lines(sub, period, advance, [])
    on_closing = discount_lines(sub, period, [item("50.00", LineType.USAGE)], advance)
    assert [x.amount for x in on_opening] == [D("-20.00")]
    assert [x.amount for x in on_closing] == [D("-10.00")]


def test_adjustments_bill_only_the_difference() -> None:
    period = next(sub_with().periods())
    recomputed = [
        item("18.00", LineType.USAGE, "gb", "180"),
        item("0.00", LineType.USAGE, "calls", "0"),
    ]
    billed = {"gb": Billed(D("15.00"), D(150)), "calls": Billed(D("0.00"), D(0))}
    found = adjustment_lines(period, recomputed, billed, "USD")
    assert [(x.type, x.charge, x.quantity, x.amount, x.period_start) for x in found] == [
        (LineType.ADJUSTMENT, "gb", D(30), D("3.00"), period.start)
    ]
    assert "2026-04-01 to 2026-05-01" in found[0].description
    assert (
        adjustment_lines(period, recomputed, {**billed, "gb": Billed(D("18.00"), D(180))}, "USD")
        == []
    )


def test_numbers_print_and_parse() -> None:
    assert format_number(42) == "INV-000042"
    assert [parse_number(x) for x in ("INV-000042", "inv-42", "42", "inv_01abc", "")] == [
        42,
        42,
        42,
        None,
        None,
    ]


def test_numbers_read_with_a_sellers_prefix() -> None:
    assert format_number(42, "ACME-2026-") == "ACME-2026-000042"
    assert invoice_prefix({"seller": {"invoice_prefix": "ACN/"}}) == "ACN/"
    assert invoice_prefix(None) is None and invoice_prefix({"seller": {}}) is None
    texts = ("ACME-2026-000042", "acn/42", "X.Y_Z-7", "A" * 21 + "-1", "ACME-2026-")
    assert [parse_number(x) for x in texts] == [42, 42, 7, None, None]


def test_only_a_finalized_invoice_can_be_voided_or_paid() -> None:
    draft = InvoiceDraft("c1", "USD", SlotKind.PERIOD, NOW, NOW, NOW, (line("1.00"),))
    invoice = Invoice(
        "inv_1",
        None,
        InvoiceStatus.DRAFT,
        "c1",
        "USD",
        SlotKind.PERIOD,
        NOW,
        NOW,
        NOW,
        draft.lines,
        draft.totals,
        NOW,
        NOW,
    )
    with pytest.raises(Conflict) as refused:
        invoice.voided(NOW)
    assert refused.value.code == "invalid_invoice_status"
    final = Invoice(**{**_fields(invoice), "status": InvoiceStatus.FINALIZED, "number": 1})
    assert final.paid(NOW).status is InvoiceStatus.PAID
    assert final.voided(NOW).status is InvoiceStatus.VOID
    with pytest.raises(Conflict):
        final.paid(NOW).voided(NOW)


def _fields(invoice: Invoice) -> dict[str, object]:
    return {name: getattr(invoice, name) for name in Invoice.__dataclass_fields__}


def test_the_line_shape_round_trips() -> None:
    tiers = (TierSlice(0, D(1), D(5), D(5), D("7.00"), D(0), D("35.00")),)
    original = Line(
        LineType.USAGE,
        "api",
        "api: 5",
        D(5),
        None,
        D("35.00"),
        used=D(5),
        included=D(0),
        breakdown=tiers,
        dimension="gpt",
        period_start=NOW,
        period_end=NOW,
        customer="c1",
        subscription="s1",
    )
    shape = line_to_dict(original)
    assert shape["period_start"] == "2026-05-01T00:00:00Z"
    assert shape["breakdown"][0]["tier"] == 1 and shape["amount"] == "35.00"
    assert line_from_dict(shape) == original


@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=2), max_size=20))
def test_the_total_is_the_sum_of_the_lines(amounts: list[Decimal]) -> None:
    lines = [line(str(a)) for a in amounts]
    assert totals(lines, "USD").total == sum(amounts, D(0))
