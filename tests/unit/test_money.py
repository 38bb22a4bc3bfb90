from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision, list_currencies
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.errors import CurrencyMismatch, UnknownCurrency, ValidationError
from tallybook.domain.money import (
    Money,
    check_unit_amount,
    format_decimal,
    minor_units,
    normalize,
    round_amount,
    round_unit_amount,
    to_decimal,
)
from tallybook.formatting import format_money


def test_minor_units_come_from_cldr_for_every_currency() -> None:
    codes = sorted(list_currencies())
    assert len(codes) > 250
    for code in codes:
        assert minor_units(code) == get_currency_precision(code), code


@pytest.mark.parametrize(
    ("code", "digits"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("BHD", 3), ("KWD", 3), ("CLP", 0)]
)
def test_well_known_minor_units(code: str, digits: int) -> None:
    assert minor_units(code) == digits


def test_unknown_currency_is_a_coded_error() -> None:
    with pytest.raises(UnknownCurrency) as info:
        minor_units("XXQ")
    assert info.value.code == "unknown_currency"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.005", "USD", "1.01"),
        ("1.004999", "USD", "1.00"),
        ("2.5", "JPY", "3"),
        ("-2.5", "JPY", "-3"),
        ("0.0005", "BHD", "0.001"),
        ("210.000", "USD", "210.00"),
    ],
)
def test_round_half_up_to_minor_unit(amount: str, currency: str, expected: str) -> None:
    result = round_amount(Decimal(amount), currency)
    assert format_decimal(result) == expected


def test_unit_amounts_keep_twelve_places() -> None:
    assert round_unit_amount(Decimal("0.0000000000015")) == Decimal("0.000000000002")
    assert check_unit_amount(Decimal("0.000000000001")) == Decimal("0.000000000001")
    with pytest.raises(ValidationError):
        check_unit_amount(Decimal("0.0000000000001"))


def test_adding_two_currencies_is_an_error() -> None:
    with pytest.raises(CurrencyMismatch):
        Money.of("1", "USD") + Money.of("1", "EUR")


def test_money_arithmetic_is_exact() -> None:
    total = Money.of("0.1", "USD") + Money.of("0.2", "USD")
    assert total.amount == Decimal("0.3")
    assert (Money.of("0.003", "USD") * 70000).rounded() == Money.of("210.00", "USD")
    assert Money.of("19.999", "USD").to_minor() == 2000
    assert str(Money.of("5", "JPY")) == "5 JPY"


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), "abc", True, None, [1], "NaN", "Infinity"]
)
def test_to_decimal_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValidationError):
        to_decimal(bad)


def test_to_decimal_takes_numbers_and_strings_without_float_noise() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("0.05") == Decimal("0.05")
    assert to_decimal(10**20 + 1) == Decimal(10**20 + 1)


def test_normalize_never_uses_exponents() -> None:
    assert format_decimal(normalize(Decimal("1E+2"))) == "100"
    assert format_decimal(normalize(Decimal("0.500"))) == "0.5"


def test_display_formatting_per_locale() -> None:
    assert format_money(Decimal("1234.5"), "USD", "en_US") == "$1,234.50"
    assert format_money(Decimal("1234"), "JPY", "ja_JP") == "￥1,234"
    assert format_money(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    with pytest.raises(UnknownCurrency):
        format_money(Decimal(1), "ZZZ")


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=9
    ),
    st.sampled_from(["USD", "JPY", "BHD"]),
)
def test_rounding_is_within_half_a_minor_unit(amount: Decimal, currency: str) -> None:
    rounded = round_amount(amount, currency)
    half = Decimal(1).scaleb(-minor_units(currency)) / 2
    assert abs(rounded - amount) <= half
    assert rounded.as_tuple().exponent == -minor_units(currency)
