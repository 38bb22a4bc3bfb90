"""Locale-aware display of money and quantities (invoices, pages, CLI). Presentation only:
never rounds for storage; amounts reaching here are already rounded by ``domain.money``,
and quantities are rounded for reading by ``domain.money.round_quantity_for_display``
(APIs keep the exact values)."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from babel.numbers import format_decimal as babel_decimal

from tallybook.domain.money import minor_units, round_quantity_for_display


def format_money(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """``format_money(Decimal("1234.5"), "EUR", "fr_FR")`` -> ``'1 234,50 €'``."""
    minor_units(currency)  # raise UnknownCurrency for a bad code
    return str(format_currency(amount, currency, locale=locale, currency_digits=True))


def format_quantity(value: Decimal, locale: str = "en_US") -> str:
    """A quantity for people: ``28.13869625520110957004160888`` -> ``'28.1387'``,
    ``Decimal("90000")`` -> ``'90,000'`` (en_US); see ``round_quantity_for_display``."""
    shown = round_quantity_for_display(value)
    return str(babel_decimal(shown, locale=locale, decimal_quantization=False))
