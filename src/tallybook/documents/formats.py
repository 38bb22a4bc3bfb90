"""Display formats for documents and pages: money, unit prices, quantities, dates.

Presentation only. Amounts arrive already rounded (``domain.money``); unit prices keep
their extra digits ("$0.003"). Dates are shown in the customer's time zone; a period is
half-open ``[start, end)``, so a period ending at local midnight shows the day before as
its last day ("Jan 1 - Jan 31, 2026").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_percent

from tallybook.domain.errors import ValidationError
from tallybook.domain.periods import parse_instant
from tallybook.formatting import format_money, format_quantity

__all__ = [
    "check_locale",
    "decimal",
    "format_money",
    "instant",
    "moment",
    "money",
    "period_label",
    "quantity",
    "unit_price",
    "zone",
]

DEFAULT_LOCALE = "en_US"


def check_locale(value: str | None) -> str:
    """A babel locale identifier (``fr_FR``, ``de-DE``), or ValidationError ``invalid_locale``."""
    if not value:
        return DEFAULT_LOCALE
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValidationError(
            f"unknown locale {value!r}: expected an identifier such as en_US or fr_FR",
            code="invalid_locale",
            details={"locale": value},
        ) from None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def decimal(value: object) -> Decimal | None:
    """A contract decimal (string or number) as Decimal; None for null or garbage."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def money(value: object, currency: str, locale: str) -> str:
    amount = decimal(value)
    return "" if amount is None else format_money(amount, currency, locale)


def unit_price(value: object, currency: str, locale: str) -> str:
    """A unit price with every significant digit it has, at least the currency's minor unit."""
    amount = decimal(value)
    if amount is None:
        return ""
    text = format_currency(amount, currency, locale=locale, decimal_quantization=False)
    return str(text)


def quantity(value: object, locale: str) -> str:
    """A quantity rounded for reading (``formatting.format_quantity``); "" for garbage."""
    amount = decimal(value)
    if amount is None:
        return ""
    return format_quantity(amount, locale)


def instant(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value if isinstance(value, datetime) else str(value))
    except ValidationError:
        return None


def _at_midnight(moment: datetime) -> bool:
    return (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)


def _when(moment: datetime, locale: str, *, with_time: bool) -> str:
    day = str(format_date(moment.date(), "medium", locale=locale))
    if not with_time:
        return day
    return f"{day} {format_time(moment, 'short', tzinfo=moment.tzinfo, locale=locale)}"


def moment(value: datetime, tz: str | None, locale: str) -> str:
    """One instant in the customer's time zone: date and time."""
    return _when(value.astimezone(zone(tz)), locale, with_time=True)


def period_label(start: object, end: object, tz: str | None, locale: str) -> str:
    """``[start, end)`` for people: dates when both are local midnights, else times too."""
    first, after = instant(start), instant(end)
    if first is None or after is None:
        return ""
    local = zone(tz)
    first, after = first.astimezone(local), after.astimezone(local)
    whole_days = _at_midnight(first) and _at_midnight(after)
    last = after - timedelta(days=1) if whole_days else after
    if whole_days and last.date() <= first.date():
        return _when(first, locale, with_time=False)
    begin = _when(first, locale, with_time=not whole_days)
    finish = _when(last, locale, with_time=not whole_days)
    return f"{begin} \u2013 {finish}"


def percent(value: Decimal, locale: str) -> str:
    """A tax percentage as people read it (``19 %`` in de_DE, ``19%`` in en_US)."""
    return str(format_percent(value / 100, format="#,##0.####%", locale=locale))
