"""Properties of rating over generated usage (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.catalog.model import Price, PricingModel, Tier, UsageCharge
from tallybook.domain.money import minor_units
from tallybook.domain.pricing.rating import invoice_totals, rate_usage
from tallybook.domain.pricing.registry import price_units

quantities = st.decimals(min_value=0, max_value=10_000_000, places=3)
unit_prices = st.decimals(min_value=0, max_value=100, places=12)
currencies = st.sampled_from(["USD", "JPY", "BHD"])


@st.composite
def prices(draw: st.DrawFn) -> Price:
    per_unit = Price(PricingModel.PER_UNIT, unit_amount=draw(unit_prices))
    tiers = (Tier(D(1000), draw(unit_prices), D("1.5")), Tier(None, draw(unit_prices)))
    package = Price(PricingModel.PACKAGE, package_size=D(7), package_amount=draw(unit_prices))
    return draw(
        st.sampled_from(
            [
                per_unit,
                Price(PricingModel.GRADUATED, tiers=tiers),
                Price(PricingModel.VOLUME, tiers=tiers),
                package,
                Price(PricingModel.PERCENTAGE, rate=draw(unit_prices), fixed_amount=D("0.3")),
            ]
        )
    )


@given(quantities, quantities, prices())
def test_billable_units_are_used_minus_included_never_negative(
    used: D, included: D, price: Price
) -> None:
    (line,) = rate_usage(UsageCharge("c", "m", price, included=included), used, "USD")
    assert line.quantity == max(D(0), used - included)
    assert (line.used, line.included) == (used, included)


@given(quantities, quantities, prices(), currencies)
def test_line_amount_is_within_half_a_minor_unit_of_the_exact_amount(
    used: D, included: D, price: Price, currency: str
) -> None:
    (line,) = rate_usage(UsageCharge("c", "m", price, included=included), used, currency)
    exact = price_units(price, max(D(0), used - included)).amount
    half_minor_unit = D(1).scaleb(-minor_units(currency)) / 2
    assert abs(line.amount - exact) <= half_minor_unit
    assert line.amount.as_tuple().exponent == -minor_units(currency)


@given(st.dictionaries(st.text(min_size=1, max_size=4), quantities, max_size=6), quantities)
def test_dimension_lines_share_the_allowance_once(by_value: dict[str, D], included: D) -> None:
    price = Price(PricingModel.PER_UNIT, unit_amount=D("0.01"))
    charge = UsageCharge("c", "m", price, included=included, dimension="model")
    total = sum(by_value.values(), D(0))
    lines = rate_usage(charge, total, "USD", by_dimension=by_value)
    assert [ln.dimension for ln in lines] == sorted(by_value)
    assert sum((ln.included or D(0) for ln in lines), D(0)) == min(included, total)
    assert sum((ln.quantity for ln in lines), D(0)) == max(D(0), total - included)


@given(st.lists(st.tuples(quantities, unit_prices), max_size=8), currencies)
def test_totals_are_the_sum_of_rounded_lines(usages: list[tuple[D, D]], currency: str) -> None:
    lines = [
        line
        for used, unit_amount in usages
        for line in rate_usage(
            UsageCharge("c", "m", Price(PricingModel.PER_UNIT, unit_amount=unit_amount)),
            used,
            currency,
        )
    ]
    assert invoice_totals(lines, currency) == sum((ln.amount for ln in lines), D(0))
