"""Decimal amounts <-> Stripe's integer minor units, exactly or not at all.

Stripe takes amounts as integers in the currency's smallest unit, with its own list of
exceptions (Stripe docs, "Supported currencies" -> "Zero-decimal currencies",
"Three-decimal currencies" and "Special cases"):

- the number of decimals is the ISO 4217 / CLDR one (``domain.money.minor_units``, from
  babel's CLDR data): JPY 0, USD 2, KWD 3;
- ISK and UGX are zero-decimal in ISO but Stripe keeps them as two-decimal integers
  (``1000 ISK`` is ``100000``) and refuses fractional amounts: the amount must be
  divisible by 100;
- three-decimal currencies (BHD, JOD, KWD, OMR, TND) must end in 0 (``5.124 KWD`` cannot
  be charged; ``5.120`` is ``5120``).

An amount Stripe cannot take is refused (``AmountNotRepresentable``), never rounded:
Tallybook's rounded line amount is the figure of record (``domain.money`` rounds; this
module only scales).
"""

from __future__ import annotations

from decimal import Decimal

from tallybook.domain.money import minor_units

# ISO zero-decimal currencies Stripe represents with two decimals (amount % 100 == 0).
TWO_DECIMAL_WHOLE = frozenset({"ISK", "UGX"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


class AmountNotRepresentable(ValueError):
    """``amount`` is not a whole number of Stripe minor units of ``currency``."""

    def __init__(self, amount: Decimal, currency: str, reason: str):
        super().__init__(f"{amount:f} {currency} cannot be sent to Stripe: {reason}")
        self.amount = amount
        self.currency = currency


def stripe_exponent(currency: str) -> int:
    """Decimal places of Stripe's integer amounts for ``currency`` (upper-case ISO code)."""
    if currency in TWO_DECIMAL_WHOLE:
        return 2
    return minor_units(currency)


def to_stripe(amount: Decimal, currency: str) -> int:
    """``amount`` (major units) as Stripe's integer; ``AmountNotRepresentable`` when it
    would need rounding or breaks one of Stripe's currency rules."""
    scaled = amount.scaleb(stripe_exponent(currency))
    if scaled != scaled.to_integral_value():
        places = minor_units(currency)
        raise AmountNotRepresentable(amount, currency, f"more than {places} decimal places")
    value = int(scaled)
    if currency in TWO_DECIMAL_WHOLE and value % 100:
        raise AmountNotRepresentable(amount, currency, "Stripe takes whole units only")
    if currency in THREE_DECIMAL and value % 10:
        raise AmountNotRepresentable(amount, currency, "Stripe needs the last decimal to be 0")
    return value


def from_stripe(value: int, currency: str) -> Decimal:
    """Stripe's integer amount back in major units (exact)."""
    return Decimal(value).scaleb(-stripe_exponent(currency))
