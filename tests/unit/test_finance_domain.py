"""Pure finance rules (domain/finance): tax per line and rate, rounding per line,
inclusive tax, exemption, credit-note tax given back in steps, revenue months."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tallybook.domain.billing.invoice import Invoice, InvoiceStatus, totals
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.errors import Conflict, ValidationError
from tallybook.domain.finance.credit_notes import CreditNote, NoteRequest, Refund, note_lines
from tallybook.domain.finance.parties import TaxExempt
from tallybook.domain.finance.revenue import recognize
from tallybook.domain.finance.taxes import TaxRate, check_rate, taxed_lines

D = Decimal
T0, T1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
VAT = TaxRate("vat", "VAT", D("19"))
UK = TaxRate("uk", "UK VAT", D("20"), inclusive=True)


def _line(amount: str, charge: str = "c", kind: LineType = LineType.FLAT) -> Line:
    return Line(kind, charge, charge, D(1), D(amount), D(amount), period_start=T0, period_end=T1)


def test_tax_is_rounded_per_line_not_on_the_total() -> None:
    lines = taxed_lines(
        [_line("0.35", "a"), _line("0.35", "b")], lambda _: [VAT], TaxExempt.NONE, "EUR"
    )
    # 0.35 x 19 % = 0.0665 -> 0.07 per line: 0.14 (0.70 x 19 % would round to 0.13)
    assert [line.tax_amount for line in lines] == [D("0.07"), D("0.07")]
    result = totals(lines, "EUR")
    assert (result.tax_total, result.total) == (D("0.14"), D("0.84"))


def test_inclusive_tax_is_inside_the_amount() -> None:
    [line] = taxed_lines([_line("10.00")], lambda _: [UK], TaxExempt.NONE, "GBP")
    assert line.tax_amount == D("1.67")  # 10.00 x 20 / 120
    assert totals([line], "GBP").total == D("10.00")


def test_credits_and_discounts_come_off_the_base_first() -> None:
    fee = Line(
        LineType.FLAT,
        "fee",
        "fee",
        D(1),
        D("100.00"),
        D("100.00"),
        period_start=T0,
        period_end=T1,
        credited=D("30.00"),
    )
    discount = Line(
        LineType.DISCOUNT,
        "d",
        "10 off",
        D(1),
        D("-10.00"),
        D("-10.00"),
        period_start=T0,
        period_end=T1,
    )
    lines = taxed_lines([fee, discount], lambda _: [VAT], TaxExempt.NONE, "EUR")
    assert lines[0].taxes[0].taxable == D("60.00") and lines[0].tax_amount == D("11.40")
    assert lines[1].taxes == ()


def test_untaxed_lines_come_back_as_they_are_and_stale_taxes_go() -> None:
    """No rate for a line: the line itself (no copy) when it had no tax, a copy without
    its taxes when it had some; a mixed invoice taxes only the lines with a rate, on the
    base left after the discount, as when every line had a rate."""
    fee, usage, discount = _line("100.00", "fee"), _line("50.00", "use"), _line("-15.00", "d")
    discount = Line(LineType.DISCOUNT, "d", "d", D(1), D("-15.00"), D("-15.00"))
    [taxed_fee] = taxed_lines([fee], lambda _: [VAT], TaxExempt.NONE, "EUR")
    plain = taxed_lines([fee, usage, discount], lambda _: [], TaxExempt.NONE, "EUR")
    assert all(a is b for a, b in zip(plain, [fee, usage, discount], strict=True))
    untaxed = taxed_lines([taxed_fee, usage], lambda _: [], TaxExempt.NONE, "EUR")
    assert untaxed == (fee, usage) and untaxed[1] is usage
    mixed = taxed_lines(
        [fee, usage, discount],
        lambda line: [VAT] if line.charge == "fee" else [],
        TaxExempt.NONE,
        "EUR",
    )
    every = taxed_lines([fee, usage, discount], lambda _: [VAT], TaxExempt.NONE, "EUR")
    assert mixed[0] == every[0] and mixed[0].tax_amount == D("19.00")
    assert mixed[1] is usage and mixed[2] is discount and every[1].taxes != ()


@pytest.mark.parametrize("exempt", [TaxExempt.EXEMPT, TaxExempt.REVERSE_CHARGE])
def test_exempt_customers_pay_no_tax(exempt: TaxExempt) -> None:
    lines = taxed_lines([_line("100.00")], lambda _: [VAT], exempt, "EUR")
    assert lines[0].tax_amount is None


@pytest.mark.parametrize("percentage", ["-0.01", "100.01", "19.00001", "NaN"])
def test_percentages_outside_0_100_are_refused(percentage: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_rate(TaxRate("x", "x", D(percentage)))
    assert caught.value.code == "invalid_percentage"


def _invoice(status: InvoiceStatus, lines: tuple[Line, ...]) -> Invoice:
    return Invoice(
        "inv",
        1,
        status,
        "c",
        "EUR",
        SlotKind.PERIOD,
        T0,
        T1,
        T0,
        lines,
        totals(lines, "EUR"),
        T0,
        T0,
    )


def test_credit_notes_give_back_exactly_the_lines_tax_in_steps() -> None:
    lines = taxed_lines([_line("10.00")], lambda _: [VAT], TaxExempt.NONE, "EUR")  # tax 1.90
    invoice = _invoice(InvoiceStatus.FINALIZED, lines)
    taken = []
    earlier: list[CreditNote] = []
    for amount in ("3.33", "3.33", "3.34"):
        [item] = note_lines(invoice, NoteRequest([(0, D(amount))], "r", Refund.EXTERNAL), earlier)
        taken.append(item.tax_amount)
        earlier.append(
            CreditNote("n", len(earlier) + 1, "inv", "c", "EUR", "r", Refund.EXTERNAL, (item,), T0)
        )
    assert taken == [D("0.63"), D("0.64"), D("0.63")] and sum(taken) == D("1.90")
    with pytest.raises(ValidationError) as caught:
        note_lines(invoice, NoteRequest([(0, D("0.01"))], "r", Refund.EXTERNAL), earlier)
    assert caught.value.code == "amount_exceeds_creditable"


def test_drafts_and_void_invoices_take_no_credit_note() -> None:
    for status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        with pytest.raises(Conflict):
            note_lines(
                _invoice(status, (_line("1.00"),)), NoteRequest(None, "r", Refund.EXTERNAL), []
            )


def test_a_year_is_recognized_a_twelfth_a_month_the_rest_last() -> None:
    shares = recognize(D("100.00"), T0, datetime(2027, 1, 1, tzinfo=UTC), "EUR", ZoneInfo("UTC"))
    assert [s.amount for s in shares] == [D("8.33")] * 11 + [D("8.37")]


def test_a_partial_month_weighs_its_covered_share() -> None:
    # Jan 16 - Mar 1: half of January (16 of 31 days) and all of February
    start = datetime(2026, 1, 16, tzinfo=UTC)
    shares = recognize(D("100.00"), start, datetime(2026, 3, 1, tzinfo=UTC), "USD", ZoneInfo("UTC"))
    jan = D(16) / D(31)
    assert [s.month for s in shares] == ["2026-01", "2026-02"]
    assert shares[0].amount == (D("100") * jan / (jan + 1)).quantize(D("0.01"))
    assert sum(s.amount for s in shares) == D("100.00")
