"""Properties of the tiered and package models over generated prices (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.catalog.model import PackageRounding, Price, PricingModel, Tier
from tallybook.domain.pricing.package import package_count
from tallybook.domain.pricing.registry import price_units

# Non-negative prices with up to 12 decimal places; quantities with up to 3 (GB, hours).
prices = st.decimals(min_value=0, max_value=1000, places=12)
flats = st.one_of(st.just(D(0)), st.decimals(min_value=0, max_value=500, places=2))
units = st.decimals(min_value=0, max_value=100_000, places=3)


@st.composite
def tier_tables(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = draw(
        st.lists(
            st.decimals(min_value=D("0.5"), max_value=50_000, places=1), max_size=5, unique=True
        )
    )
    up_tos: list[D | None] = [*sorted(bounds), None]
    return tuple(Tier(up_to, draw(prices), draw(flats)) for up_to in up_tos)


@given(tier_tables(), units, units)
def test_graduated_total_never_decreases_as_units_grow(tiers: tuple[Tier, ...], a: D, b: D) -> None:
    price = Price(PricingModel.GRADUATED, tiers=tiers)
    low, high = sorted((a, b))
    assert price_units(price, low).amount <= price_units(price, high).amount


@given(tier_tables(), units)
def test_graduated_total_is_the_sum_of_its_slices(tiers: tuple[Tier, ...], n: D) -> None:
    result = price_units(Price(PricingModel.GRADUATED, tiers=tiers), n)
    assert result.amount == sum((s.amount for s in result.slices), D(0))
    assert sum((s.units for s in result.slices), D(0)) == n
    for tier_slice in result.slices:
        expected = tier_slice.units * tier_slice.unit_amount + tier_slice.flat_amount
        assert tier_slice.amount == expected
        if tier_slice.last_unit is not None:
            assert tier_slice.units <= tier_slice.last_unit


@given(tier_tables(), units)
def test_volume_prices_every_unit_at_exactly_one_tier(tiers: tuple[Tier, ...], n: D) -> None:
    result = price_units(Price(PricingModel.VOLUME, tiers=tiers), n)
    (chosen,) = result.slices
    tier = tiers[chosen.tier_index]
    assert chosen.units == n
    assert result.amount == n * tier.unit_amount + tier.flat_amount
    assert tier.up_to is None or n <= tier.up_to
    below = tiers[chosen.tier_index - 1].up_to if chosen.tier_index else D(0)
    assert below is not None
    assert n > below or chosen.tier_index == 0


@given(
    st.decimals(min_value=D("0.001"), max_value=1000, places=3),
    prices,
    st.sampled_from(PackageRounding),
    units,
    units,
)
def test_package_amount_never_decreases_as_units_grow(
    size: D, package_amount: D, rounding: PackageRounding, a: D, b: D
) -> None:
    price = Price(
        PricingModel.PACKAGE, package_size=size, package_amount=package_amount, rounding=rounding
    )
    low, high = sorted((a, b))
    assert price_units(price, low).amount <= price_units(price, high).amount


@given(st.decimals(min_value=D("0.001"), max_value=1000, places=3), units)
def test_package_round_up_buys_the_fewest_packages_covering_every_unit(size: D, n: D) -> None:
    price = Price(PricingModel.PACKAGE, package_size=size, package_amount=D(1))
    packages = package_count(price, n)
    assert packages == int(packages)
    assert packages * size >= n
    assert packages == 0 or (packages - 1) * size < n
