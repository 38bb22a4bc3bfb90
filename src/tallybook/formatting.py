"""Locale-aware display of money (invoices, pages, CLI). Presentation only: never rounds
for storage; amounts reaching here are already rounded by ``domain.money``."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from tallybook.domain.money import minor_units


def format_money(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """``format_money(Decimal("1234.5"), "EUR", "fr_FR")`` -> ``'1 234,50 €'``."""
    minor_units(currency)  # raise UnknownCurrency for a bad code
    return str(format_currency(amount, currency, locale=locale, currency_digits=True))
