"""Pricing models, one rule at a time (domain/pricing.py)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tallybook.domain.catalog.model import PackageRounding, Price, PricingModel, Tier
from tallybook.domain.errors import ValidationError
from tallybook.domain.pricing.package import package_count
from tallybook.domain.pricing.registry import MODELS, price_units
from tallybook.domain.pricing.result import PriceResult, TierSlice

# Stripe's published tiers: 1-5 @ 7.00, 6-10 @ 6.50, 11+ @ 6.00
STRIPE_TIERS = (Tier(D(5), D("7.00")), Tier(D(10), D("6.50")), Tier(None, D("6.00")))
GRADUATED = Price(PricingModel.GRADUATED, tiers=STRIPE_TIERS)
VOLUME = Price(PricingModel.VOLUME, tiers=STRIPE_TIERS)


def amount(price: Price, units: str | int, event_values: list[D] | None = None) -> D:
    return price_units(price, D(units), event_values=event_values).amount


def test_every_model_has_exactly_one_function() -> None:
    assert set(MODELS) == set(PricingModel)


# -- per_unit ----------------------------------------------------------------------------


def test_per_unit_is_units_times_unit_amount() -> None:
    price = Price(PricingModel.PER_UNIT, unit_amount=D("0.003"))
    result = price_units(price, D(70000))
    assert result == PriceResult(D("210.000"), D("0.003"), ())


def test_per_unit_keeps_fractional_units_and_sub_cent_prices_unrounded() -> None:
    price = Price(PricingModel.PER_UNIT, unit_amount=D("0.000001234567"))
    assert amount(price, "1.5") == D("0.0000018518505")


def test_per_unit_zero_units_costs_nothing() -> None:
    assert amount(Price(PricingModel.PER_UNIT, unit_amount=D(3)), 0) == 0


# -- graduated ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "expected"),
    [(25, "157.50"), (6, "41.50"), (5, "35.00"), (10, "67.50"), (11, "73.50"), (1, "7.00")],
)
def test_graduated_matches_stripe(units: int, expected: str) -> None:
    assert amount(GRADUATED, units) == D(expected)


def test_graduated_slices_show_each_tier() -> None:
    result = price_units(GRADUATED, D(25))
    assert result.unit_amount is None
    assert result.slices == (
        TierSlice(0, D(1), D(5), D(5), D("7.00"), D(0), D("35.00")),
        TierSlice(1, D(6), D(10), D(5), D("6.50"), D(0), D("32.50")),
        TierSlice(2, D(11), None, D(15), D("6.00"), D(0), D("90.00")),
    )


def test_graduated_stops_at_the_tier_holding_the_last_unit() -> None:
    assert [s.tier_index for s in price_units(GRADUATED, D(5)).slices] == [0]
    assert [s.tier_index for s in price_units(GRADUATED, D("5.01")).slices] == [0, 1]


def test_graduated_flat_amounts_count_when_usage_reaches_the_tier() -> None:
    tiers = (Tier(D(10), D(0), D(5)), Tier(D(20), D(1), D(3)), Tier(None, D("0.5"), D(100)))
    price = Price(PricingModel.GRADUATED, tiers=tiers)
    assert amount(price, 0) == D(5)  # the first tier's flat amount even at zero usage
    assert amount(price, 10) == D(5)
    assert amount(price, 11) == D(5) + D(3) + D(1)
    assert amount(price, 21) == D(5) + D(3) + D(10) + D(100) + D("0.5")


def test_graduated_zero_usage_has_one_empty_first_slice() -> None:
    (only,) = price_units(GRADUATED, D(0)).slices
    assert (only.tier_index, only.units, only.amount) == (0, D(0), D(0))


def test_graduated_fractional_units_split_at_the_bound() -> None:
    price = Price(PricingModel.GRADUATED, tiers=(Tier(D(100), D("0.10")), Tier(None, D("0.05"))))
    result = price_units(price, D("100.5"))
    assert [s.units for s in result.slices] == [D(100), D("0.5")]
    assert result.amount == D("10.025")


def test_fractional_tier_bounds_show_the_exclusive_lower_bound() -> None:
    price = Price(PricingModel.GRADUATED, tiers=(Tier(D("0.5"), D(1)), Tier(None, D(2))))
    first, second = price_units(price, D(2)).slices
    assert (first.first_unit, first.last_unit) == (D(1), D("0.5"))
    assert (second.first_unit, second.last_unit, second.units) == (D("0.5"), None, D("1.5"))


# -- volume ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "expected", "tier"),
    [(25, "150.00", 2), (6, "39.00", 1), (5, "35.00", 0), (10, "65.00", 1), (11, "66.00", 2)],
)
def test_volume_matches_stripe(units: int, expected: str, tier: int) -> None:
    result = price_units(VOLUME, D(units))
    assert result.amount == D(expected)
    assert [s.tier_index for s in result.slices] == [tier]
    assert result.slices[0].units == D(units)
    assert result.unit_amount == STRIPE_TIERS[tier].unit_amount


def test_volume_adds_only_the_chosen_tiers_flat_amount() -> None:
    tiers = (Tier(D(10), D(2), D(7)), Tier(None, D(1), D(50)))
    price = Price(PricingModel.VOLUME, tiers=tiers)
    assert amount(price, 0) == D(7)  # zero units: first tier, its flat amount
    assert amount(price, 10) == D(27)
    assert amount(price, 11) == D(61)


def test_volume_fractional_units_just_above_a_bound_use_the_next_tier() -> None:
    assert amount(VOLUME, "5.5") == D("35.750")


# -- package -----------------------------------------------------------------------------

PACKAGE = Price(PricingModel.PACKAGE, package_size=D(5), package_amount=D("10.00"))


@pytest.mark.parametrize(("units", "packages"), [(0, 0), (1, 1), (5, 1), (7, 2), (10, 2), (11, 3)])
def test_package_rounds_up_by_default(units: int, packages: int) -> None:
    assert package_count(PACKAGE, D(units)) == packages
    assert amount(PACKAGE, units) == D("10.00") * packages


def test_package_seven_users_cost_twenty_as_in_stripe_docs() -> None:
    assert amount(PACKAGE, 7) == D("20.00")


def test_package_rounding_down_drops_the_partial_package() -> None:
    price = Price(
        PricingModel.PACKAGE,
        package_size=D(5),
        package_amount=D("10.00"),
        rounding=PackageRounding.DOWN,
    )
    assert amount(price, 7) == D("10.00")
    assert amount(price, 4) == 0


def test_package_of_fractional_size() -> None:
    price = Price(PricingModel.PACKAGE, package_size=D("0.5"), package_amount=D(1))
    assert amount(price, "1.2") == D(3)


def test_package_size_must_be_positive() -> None:
    with pytest.raises(ValidationError) as raised:
        price_units(Price(PricingModel.PACKAGE, package_size=D(0), package_amount=D(1)), D(3))
    assert raised.value.code == "invalid_price"


# -- percentage --------------------------------------------------------------------------

CARD_FEE = Price(PricingModel.PERCENTAGE, rate=D("2.9"), fixed_amount=D("0.30"))


def test_percentage_prices_each_event_and_sums() -> None:
    result = price_units(CARD_FEE, D(300), event_values=[D(100), D(200)])
    assert result.amount == D("2.90") + D("0.30") + D("5.80") + D("0.30")


def test_percentage_clamps_each_event_to_min_and_max() -> None:
    price = Price(PricingModel.PERCENTAGE, rate=D(1), min_per_event=D("0.50"), max_per_event=D(5))
    result = price_units(price, D(10010), event_values=[D(10), D(10000)])
    assert result.amount == D("0.50") + D(5)


def test_percentage_without_events_treats_the_total_as_one_event() -> None:
    assert amount(CARD_FEE, 1000) == D("29.30")


def test_percentage_of_zero_units_without_events_costs_nothing() -> None:
    assert amount(CARD_FEE, 0) == 0


def test_percentage_keeps_sub_cent_fees_exact() -> None:
    price = Price(PricingModel.PERCENTAGE, rate=D("0.5"))
    assert amount(price, 0, event_values=[D("0.99"), D("0.99")]) == D("0.00990")


# -- bad input ---------------------------------------------------------------------------


def test_negative_units_are_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        price_units(GRADUATED, D(-1))
    assert raised.value.code == "invalid_units"


@pytest.mark.parametrize(
    "price",
    [
        Price(PricingModel.PER_UNIT),
        Price(PricingModel.PERCENTAGE),
        Price(PricingModel.PACKAGE, package_size=D(5)),
        Price(PricingModel.PACKAGE, package_amount=D(5)),
        Price(PricingModel.GRADUATED),
        Price(PricingModel.VOLUME, tiers=(Tier(D(5), D(1)),)),
        Price(PricingModel.VOLUME, tiers=(Tier(None, D(1)), Tier(None, D(2)))),
        Price(PricingModel.GRADUATED, tiers=(Tier(D(5), D(1)), Tier(D(5), D(1)), Tier(None))),
        Price(PricingModel.GRADUATED, tiers=(Tier(D(0), D(1)), Tier(None))),
    ],
    ids=[
        "per_unit-no-price",
        "percentage-no-rate",
        "package-no-amount",
        "package-no-size",
        "no-tiers",
        "last-tier-closed",
        "open-tier-not-last",
        "tiers-not-ascending",
        "zero-up_to",
    ],
)
def test_incomplete_prices_built_in_code_are_rejected(price: Price) -> None:
    with pytest.raises(ValidationError) as raised:
        price_units(price, D(3))
    assert raised.value.code == "invalid_price"
