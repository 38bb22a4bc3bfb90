"""Rating charges and usage into invoice lines (domain/rating.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.catalog.model import FlatCharge, Price, PricingModel, Tier, UsageCharge
from tallybook.domain.errors import UnknownCurrency, ValidationError
from tallybook.domain.pricing.rating import (
    billable_units,
    invoice_totals,
    minimum_spend_true_up,
    rate_flat,
    rate_usage,
)

API = UsageCharge(
    key="api",
    meter="api_calls",
    price=Price(PricingModel.PER_UNIT, unit_amount=D("0.003")),
    included=D(50000),
    name="API calls",
)
PLATFORM = FlatCharge(key="platform", amount=D("200.00"), name="Platform")
SEATS = FlatCharge(key="seats", unit_amount=D("10.00"), quantity_key="seats", name="Seats")
TIERS = (Tier(D(5), D("7.00")), Tier(D(10), D("6.50")), Tier(None, D("6.00")))


def line(amount: str, charge: str = "x") -> Line:
    return Line(LineType.FLAT, charge, charge, D(1), D(amount), D(amount))


# -- usage -------------------------------------------------------------------------------


def test_hybrid_overage_line() -> None:
    (usage,) = rate_usage(API, D(120000), "USD")
    assert usage.type == "usage"
    assert (usage.charge, usage.quantity, usage.unit_amount) == ("api", D(70000), D("0.003"))
    assert (usage.used, usage.included, usage.amount) == (D(120000), D(50000), D("210.00"))
    assert usage.description == (
        "API calls: 70,000 billable of 120,000 used (50,000 included) x 0.003 USD"
    )


def test_usage_within_the_allowance_is_a_zero_line() -> None:
    (usage,) = rate_usage(API, D(30000), "USD")
    assert (usage.quantity, usage.amount, usage.included) == (D(0), D("0.00"), D(50000))


def test_allowance_argument_overrides_included() -> None:
    (usage,) = rate_usage(API, D(120000), "USD", allowance=D(25000))
    assert (usage.quantity, usage.included, usage.amount) == (D(95000), D(25000), D("285.00"))


def test_negative_allowance_is_rejected() -> None:
    with pytest.raises(ValidationError):
        rate_usage(API, D(1), "USD", allowance=D(-1))


def test_unknown_currency_is_rejected() -> None:
    with pytest.raises(UnknownCurrency):
        rate_usage(API, D(1), "XXY")


@pytest.mark.parametrize(("used", "allowance", "billable"), [(10, 3, 7), (3, 10, 0), (-5, 0, 0)])
def test_billable_units_are_used_minus_allowance_never_negative(
    used: int, allowance: int, billable: int
) -> None:
    assert billable_units(D(used), D(allowance)) == billable


def test_usage_line_amount_is_rounded_half_up_once() -> None:
    charge = UsageCharge("c", "m", Price(PricingModel.PER_UNIT, unit_amount=D("0.0025")))
    (usage,) = rate_usage(charge, D(3), "USD")  # 0.0075
    assert usage.amount == D("0.01")
    assert usage.description == "c: 3 x 0.0025 USD"


@pytest.mark.parametrize(
    ("currency", "expected"), [("USD", "1.23"), ("JPY", "1"), ("BHD", "1.235")]
)
def test_line_rounds_to_the_currency_minor_unit(currency: str, expected: str) -> None:
    charge = UsageCharge("c", "m", Price(PricingModel.PER_UNIT, unit_amount=D("0.2469")))
    (usage,) = rate_usage(charge, D(5), currency)  # exactly 1.2345
    assert str(usage.amount) == expected


def test_graduated_line_carries_the_tier_breakdown() -> None:
    charge = UsageCharge("units", "m", Price(PricingModel.GRADUATED, tiers=TIERS), name="Units")
    (usage,) = rate_usage(charge, D(25), "USD")
    assert usage.amount == D("157.50")
    assert usage.unit_amount is None
    assert [s.amount for s in usage.breakdown] == [D("35.00"), D("32.50"), D("90.00")]
    assert usage.description == "Units: 25 in graduated tiers: 5 x 7.00 + 5 x 6.50 + 15 x 6.00 USD"


def test_volume_line_names_its_tier() -> None:
    charge = UsageCharge("units", "m", Price(PricingModel.VOLUME, tiers=TIERS), name="Units")
    (usage,) = rate_usage(charge, D(6), "USD")
    assert (usage.amount, usage.unit_amount) == (D("39.00"), D("6.50"))
    assert usage.description == "Units: 6 x 6.50 USD (volume tier 6-10)"


def test_package_line_counts_packages() -> None:
    price = Price(PricingModel.PACKAGE, package_size=D(5), package_amount=D(10))
    (usage,) = rate_usage(UsageCharge("users", "m", price, name="Users"), D(7), "USD")
    assert (usage.quantity, usage.amount) == (D(7), D("20.00"))
    assert usage.description == "Users: 7 = 2 packages of 5 x 10.00 USD"


def test_percentage_allowance_is_consumed_from_the_earliest_events() -> None:
    price = Price(PricingModel.PERCENTAGE, rate=D(1), fixed_amount=D("0.10"))
    charge = UsageCharge("pay", "volume", price, included=D(150), name="Payments")
    values = [D(100), D(100), D(100)]
    (usage,) = rate_usage(charge, D(300), "USD", event_values=values)
    # event 1 fully covered (no fee); event 2 has 50 left; event 3 all of it
    assert usage.amount == D("0.50") + D("0.10") + D("1.00") + D("0.10")
    assert usage.quantity == D(150)
    assert (
        usage.description
        == "Payments: 150 billable of 300 used (150 included) at 1% + 0.10 USD per event"
    )


def test_percentage_description_names_the_per_event_limits() -> None:
    price = Price(
        PricingModel.PERCENTAGE, rate=D("2.5"), min_per_event=D("0.5"), max_per_event=D(5)
    )
    (usage,) = rate_usage(UsageCharge("pay", "v", price), D(10), "USD")
    assert usage.amount == D("0.50")
    assert usage.description == "pay: 10 at 2.5% (min 0.50 USD, max 5.00 USD per event)"


# -- per-dimension prices ----------------------------------------------------------------

TOKENS = UsageCharge(
    key="tokens",
    meter="tokens",
    price=Price(PricingModel.PER_UNIT, unit_amount=D("0.001")),
    included=D(1000),
    prices_by_dimension={"gpt-4o": Price(PricingModel.PER_UNIT, unit_amount=D("0.01"))},
    dimension="model",
    name="Tokens",
)


def test_one_line_per_dimension_value_in_sorted_order_consuming_the_allowance() -> None:
    by_model = {"small": D(3000), "gpt-4o": D(600)}
    lines = rate_usage(TOKENS, D(3600), "USD", by_dimension=by_model)
    assert [ln.dimension for ln in lines] == ["gpt-4o", "small"]
    gpt, small = lines
    assert (gpt.included, gpt.quantity, gpt.amount) == (D(600), D(0), D("0.00"))
    assert (small.included, small.quantity, small.amount) == (D(400), D(2600), D("2.60"))
    assert gpt.description.startswith("Tokens (gpt-4o): 0 billable of 600 used (600 included)")


def test_dimension_override_price_applies_to_its_value_only() -> None:
    lines = rate_usage(TOKENS, D(2000), "USD", by_dimension={"gpt-4o": D(1000), "x": D(1000)})
    assert [(ln.dimension, ln.amount) for ln in lines] == [("gpt-4o", D("0.00")), ("x", D("1.00"))]
    lines = rate_usage(TOKENS, D(3000), "USD", by_dimension={"a": D(1000), "gpt-4o": D(2000)})
    assert [(ln.dimension, ln.amount) for ln in lines] == [("a", D("0.00")), ("gpt-4o", D("20.00"))]


def test_usage_without_a_dimension_value_is_rated_last_at_the_default_price() -> None:
    lines = rate_usage(TOKENS, D(5000), "USD", by_dimension={"gpt-4o": D(1500)})
    assert [(ln.dimension, ln.quantity, ln.amount) for ln in lines] == [
        ("gpt-4o", D(500), D("5.00")),
        (None, D(3500), D("3.50")),
    ]


def test_without_per_dimension_usage_the_charge_is_one_line() -> None:
    (usage,) = rate_usage(TOKENS, D(3000), "USD")
    assert (usage.dimension, usage.amount) == (None, D("2.00"))


def test_per_event_values_with_per_dimension_percentage_prices_are_refused() -> None:
    charge = UsageCharge("pay", "v", Price(PricingModel.PERCENTAGE, rate=D(1)), dimension="method")
    with pytest.raises(ValidationError) as raised:
        rate_usage(charge, D(1), "USD", event_values=[D(1)], by_dimension={"card": D(1)})
    assert raised.value.code == "unsupported_rating"


# -- flat fees ---------------------------------------------------------------------------


def test_flat_fee_for_a_whole_period() -> None:
    fee = rate_flat(PLATFORM, "USD")
    assert fee == Line(
        LineType.FLAT, "platform", "Platform: 200.00 USD", D(1), D("200.00"), D("200.00")
    )


def test_seats_are_unit_amount_times_quantity() -> None:
    fee = rate_flat(SEATS, "USD", quantity=D(5))
    assert (fee.type, fee.quantity, fee.unit_amount, fee.amount) == (
        "flat",
        D(5),
        D("10.00"),
        D("50.00"),
    )
    assert fee.description == "Seats: 5 x 10.00 USD"


def test_prorated_seats_say_so_and_round_once() -> None:
    fee = rate_flat(
        SEATS, "USD", quantity=D(5), fraction=D(15) / D(31), fraction_label="15/31 days"
    )
    assert fee.type == "proration"
    assert fee.amount == D("24.19")  # 50 x 15/31 = 24.1935...
    assert fee.description == "Seats: 5 x 10.00 USD (prorated 15/31 days)"


def test_prorated_fee_without_label_shows_a_percentage() -> None:
    fee = rate_flat(PLATFORM, "USD", fraction=D("0.5"), line_type=LineType.FLAT)
    assert (fee.type, fee.amount) == ("flat", D("100.00"))
    assert fee.description == "Platform: 200.00 USD (prorated 50.00%)"


def test_licensed_fee_needs_a_quantity() -> None:
    with pytest.raises(ValidationError):
        rate_flat(SEATS, "USD")
    with pytest.raises(ValidationError):
        rate_flat(SEATS, "USD", quantity=D(-1))


def test_unlicensed_fee_takes_no_quantity() -> None:
    with pytest.raises(ValidationError):
        rate_flat(PLATFORM, "USD", quantity=D(2))


def test_flat_fee_without_amount_is_rejected() -> None:
    with pytest.raises(ValidationError):
        rate_flat(FlatCharge("empty"), "USD")
    with pytest.raises(ValidationError):
        rate_flat(FlatCharge("half", quantity_key="seats"), "USD", quantity=D(1))


def test_for_period_names_the_service_period() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    dated = rate_flat(PLATFORM, "USD").for_period(start, end)
    assert (dated.period_start, dated.period_end) == (start, end)


# -- minimum spend and totals ------------------------------------------------------------


def test_minimum_spend_shortfall_is_a_true_up_line() -> None:
    true_up = minimum_spend_true_up(D(500), [line("200.00"), line("210.00")], "USD")
    assert true_up is not None
    assert (true_up.type, true_up.charge, true_up.amount) == (
        "true_up",
        "minimum_spend",
        D("90.00"),
    )
    assert true_up.description == "Minimum spend 500.00 USD: spent 410.00, shortfall 90.00 USD"


def test_no_true_up_when_the_minimum_is_met() -> None:
    assert minimum_spend_true_up(D(410), [line("200.00"), line("210.00")], "USD") is None
    assert minimum_spend_true_up(D(0), [], "USD") is None


def test_prorated_minimum_spend() -> None:
    true_up = minimum_spend_true_up(
        D(310), [line("5.00")], "USD", fraction=D(1) / D(3), fraction_label="10/30 days"
    )
    assert true_up is not None
    assert true_up.amount == D("98.33")  # 103.333... - 5.00, rounded half-up
    assert "(prorated 10/30 days)" in true_up.description


def test_totals_are_sums_of_rounded_lines() -> None:
    a = rate_usage(
        UsageCharge("a", "m", Price(PricingModel.PER_UNIT, unit_amount=D("0.005"))), D(1), "USD"
    )
    assert a[0].amount == D("0.01")  # 0.005 rounds half-up
    assert invoice_totals([*a, *a, *a], "USD") == D("0.03")  # not round(0.015) = 0.02


def test_totals_of_no_lines_are_zero_in_minor_units() -> None:
    assert str(invoice_totals([], "USD")) == "0.00"
    assert str(invoice_totals([], "JPY")) == "0"


def test_totals_refuse_an_unrounded_line() -> None:
    with pytest.raises(ValidationError) as raised:
        invoice_totals([line("0.005")], "USD")
    assert raised.value.code == "unrounded_line"
