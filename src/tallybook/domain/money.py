"""Exact money: Decimal amounts in an ISO 4217 currency, rounded in this module only.

Policy (CONTRACT.md, Rounding): unit amounts keep up to 12 decimal places; each line
amount is rounded half-up to the currency's minor unit (USD 2, JPY 0, BHD 3); totals
are sums of rounded lines. Minor units come from CLDR via ``currencies.json``
(generated from babel by ``scripts/gen_currencies.py``), so this module stays stdlib-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import cache
from importlib import resources

from tallybook.domain.errors import CurrencyMismatch, UnknownCurrency, ValidationError

UNIT_AMOUNT_PLACES = 12
_UNIT_QUANTUM = Decimal(1).scaleb(-UNIT_AMOUNT_PLACES)
# Enough precision that no intermediate product of quantities and 12-place prices rounds.
DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


@cache
def _minor_units_table() -> dict[str, int]:
    text = resources.files("tallybook.domain").joinpath("currencies.json").read_text("utf-8")
    table: dict[str, int] = json.loads(text)
    return table


def is_currency(code: str) -> bool:
    return code in _minor_units_table()


def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (JPY 0, USD 2, BHD 3)."""
    try:
        return _minor_units_table()[currency]
    except KeyError:
        raise UnknownCurrency(
            f"unknown currency {currency!r}: expected an ISO 4217 code such as USD",
            details={"currency": currency},
        ) from None


def to_decimal(value: object, *, field: str = "value") -> Decimal:
    """Parse a JSON number or decimal string into a finite Decimal; floats go through str."""
    if isinstance(value, bool):
        raise ValidationError(
            f"{field} must be a decimal number, not a boolean", code="invalid_number"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip()) if not isinstance(value, int) else Decimal(value)
        except InvalidOperation:
            raise ValidationError(
                f"{field} must be a decimal number, got {value!r}", code="invalid_number"
            ) from None
    else:
        raise ValidationError(f"{field} must be a decimal number", code="invalid_number")
    if not result.is_finite():
        raise ValidationError(f"{field} must be finite, got {value!r}", code="invalid_number")
    return result


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: the only place money is rounded."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(quantum, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)


def round_unit_amount(amount: Decimal) -> Decimal:
    """Unit prices keep at most 12 decimal places (half-up), trailing zeros dropped."""
    rounded = amount.quantize(_UNIT_QUANTUM, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    return normalize(rounded)


def check_unit_amount(amount: Decimal, *, field: str = "unit_amount") -> Decimal:
    """Reject prices with more than 12 decimal places instead of silently rounding them."""
    exponent = amount.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -UNIT_AMOUNT_PLACES
        and amount != round_unit_amount(amount)
    ):
        raise ValidationError(
            f"{field} has more than {UNIT_AMOUNT_PLACES} decimal places", code="too_many_decimals"
        )
    return amount


DISPLAY_PLACES = 4  # decimal places of a quantity shown to people
DISPLAY_SIGNIFICANT = 3  # significant digits kept for smaller fractions


def round_quantity_for_display(value: Decimal) -> Decimal:
    """A quantity as people read it (pages, documents, CLI), never for storage or billing.

    Whole numbers stay whole; fractions are rounded half-up to ``DISPLAY_PLACES`` decimal
    places (``28.13869625520110957004160888`` -> ``28.1387``), except that a non-zero value
    that would show as 0 keeps ``DISPLAY_SIGNIFICANT`` significant digits
    (``0.0000123456`` -> ``0.0000123``). Trailing zeros are dropped.
    """
    if not value.is_finite() or value == value.to_integral_value():
        return normalize(value) if value.is_finite() else value
    quantum = Decimal(1).scaleb(-DISPLAY_PLACES)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    if rounded == 0:
        small = Decimal(1).scaleb(value.adjusted() - DISPLAY_SIGNIFICANT + 1)
        rounded = value.quantize(small, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    return normalize(rounded)


def normalize(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (1E+2 -> 100)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize(context=DECIMAL_CONTEXT)


def format_decimal(value: Decimal) -> str:
    """Plain (never scientific) string for a decimal, as the JSON contract wants."""
    return f"{value:f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies is an error."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        minor_units(self.currency)  # validates the code
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValidationError("money amount must be a finite Decimal", code="invalid_number")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def of(cls, value: object, currency: str) -> Money:
        return cls(to_decimal(value, field="amount"), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} and {other.currency}",
                details={"left": self.currency, "right": other.currency},
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(DECIMAL_CONTEXT.multiply(self.amount, Decimal(factor)), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def rounded(self) -> Money:
        return Money(round_amount(self.amount, self.currency), self.currency)

    @property
    def minor_units(self) -> int:
        return minor_units(self.currency)

    def to_minor(self) -> int:
        """The rounded amount as an integer count of minor units (cents for USD)."""
        return int(self.rounded().amount.scaleb(self.minor_units))

    def __str__(self) -> str:
        return f"{format_decimal(self.rounded().amount)} {self.currency}"


def sum_money(items: list[Money] | tuple[Money, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total


def round_ratio(value: Decimal, places: int = 2) -> Decimal:
    """Round a ratio, rate or statistic half-up to ``places`` decimals (Part 2: ratios and
    rates are percent strings with 2 places, ``"81.52"``; p-values use 4)."""
    quantum = Decimal(1).scaleb(-places)
    return value.quantize(quantum, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
