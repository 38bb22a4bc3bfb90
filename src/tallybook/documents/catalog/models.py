"""Pydantic models of the catalog document (CONTRACT.md, Catalog): shape and field values.

These models check what one field can check on its own: types, enums, unknown fields
(``extra="forbid"``), signs, decimal places, currency codes. Rules that relate fields
(tier order, model-specific fields, references to meters, duplicate keys) live in
``tallybook.documents.catalog.checks`` so each problem can be reported at its exact location.

Money and quantities accept JSON numbers or decimal strings and are parsed through
``str`` (never through binary floats); in JSON output they are decimal strings. They
keep at most 12 decimal places and 18 integer digits.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

from tallybook.domain.catalog.model import Aggregation, PackageRounding, PricingModel, Timing
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import (
    UNIT_AMOUNT_PLACES,
    check_unit_amount,
    format_decimal,
    is_currency,
    to_decimal,
)
from tallybook.domain.periods import Anchor, Interval

MAX_DIGITS = 18  # integer digits of any amount or quantity (guards against "1e999999")
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # the shortest text that reads back as this float
    try:
        number = to_decimal(value)
    except ValidationError:
        raise ValueError(
            f'must be a decimal number (a JSON number or a string such as "0.003"), got {value!r}'
        ) from None
    if number.is_zero():
        return number if number.as_tuple().exponent in range(-UNIT_AMOUNT_PLACES, 1) else Decimal(0)
    if number.adjusted() >= MAX_DIGITS:
        raise ValueError(f"is too large: at most {MAX_DIGITS} digits before the decimal point")
    return number


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {format_decimal(value)}")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {format_decimal(value)}")
    return value


def _twelve_places(value: Decimal) -> Decimal:
    try:
        return check_unit_amount(value)
    except ValidationError:
        raise ValueError(
            f"{format_decimal(value)} has more than {UNIT_AMOUNT_PLACES} decimal places"
        ) from None


def _open_ended(value: Any) -> Any:
    """``up_to: null`` (or Stripe's ``"inf"``) marks the open-ended last tier."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
        return None
    return value


def _key(value: str) -> str:
    if not KEY_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid key: use 1-100 letters, digits, '_', '-', '.' or ':', "
            "starting with a letter or digit"
        )
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not is_currency(code):
        raise ValueError(f"unknown currency {value!r}: expected an ISO 4217 code such as USD")
    return code


def _string_list(value: Any) -> Any:
    """A filter accepts one value or a list; numbers are compared as their text."""
    values = value if isinstance(value, list | tuple) else [value]
    return [
        str(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else v for v in values
    ]


_AsString = PlainSerializer(format_decimal, return_type=str, when_used="json")
DecimalValue = Annotated[Decimal, BeforeValidator(_parse_decimal), _AsString]
Amount = Annotated[DecimalValue, AfterValidator(_non_negative), AfterValidator(_twelve_places)]
Quantity = Annotated[DecimalValue, AfterValidator(_non_negative), AfterValidator(_twelve_places)]
PositiveQuantity = Annotated[
    DecimalValue, AfterValidator(_positive), AfterValidator(_twelve_places)
]
Key = Annotated[str, AfterValidator(_key)]
Currency = Annotated[str, AfterValidator(_currency)]
FilterValues = Annotated[list[str], BeforeValidator(_string_list)]
UpTo = Annotated[PositiveQuantity | None, BeforeValidator(_open_ended)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


MAX_SOURCES = 20  # sources of one weighted meter (each is one more aggregate column)


class SourceDocument(_Document):
    """One event type of a weighted ``sum`` meter: each matching event adds ``multiplier``
    x its ``value`` (or ``multiplier`` alone when there is no ``value``: it counts events)."""

    event_type: Annotated[str, Field(min_length=1)]
    value: Annotated[str, Field(min_length=1)] | None = None
    multiplier: PositiveQuantity = Decimal(1)
    filter: dict[str, FilterValues] = Field(default_factory=dict)


class MeterDocument(_Document):
    """A meter: which events it reads and how it aggregates them. A ``sum`` meter may list
    ``sources`` (a weighted meter) instead of one ``event_type``; the checks require
    exactly one of the two."""

    key: Key
    event_type: Annotated[str, Field(min_length=1)] | None = None
    aggregation: Aggregation
    value: Annotated[str, Field(min_length=1)] | None = None
    filter: dict[str, FilterValues] = Field(default_factory=dict)
    group_by: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    name: str | None = None
    sources: Annotated[list[SourceDocument], Field(max_length=MAX_SOURCES)] | None = None


class TierDocument(_Document):
    """One price tier; ``up_to`` is inclusive and ``null`` on the last tier."""

    up_to: UpTo
    unit_amount: Amount = Decimal(0)
    flat_amount: Amount = Decimal(0)


class PriceDocument(_Document):
    """A pricing model and its fields (which fields a model needs: ``domain.pricing.registry.MODELS``)."""

    model: PricingModel
    unit_amount: Amount | None = None
    tiers: list[TierDocument] | None = None
    package_size: PositiveQuantity | None = None
    package_amount: Amount | None = None
    rounding: PackageRounding | None = None
    rate: Amount | None = None
    fixed_amount: Amount | None = None
    min_per_event: Amount | None = None
    max_per_event: Amount | None = None


class AllowanceRolloverDocument(_Document):
    """``rollover: {max: 5000}``: unused included units carry into the next period only,
    at most ``max`` of them."""

    max: PositiveQuantity


class UsageChargeDocument(PriceDocument):
    """Metered usage: ``included`` units first, then the price on the rest (in arrears)."""

    key: Key
    type: Literal["usage"]
    meter: Key
    name: str | None = None
    included: Quantity = Decimal(0)
    prices_by_dimension: dict[str, PriceDocument] | None = None
    dimension: str | None = None
    timing: Timing | None = None
    rollover: AllowanceRolloverDocument | None = None


class FlatChargeDocument(_Document):
    """A fixed fee per period: ``amount``, or ``unit_amount`` x the ``quantity_key`` quantity."""

    key: Key
    type: Literal["flat"]
    name: str | None = None
    amount: Amount | None = None
    unit_amount: Amount | None = None
    quantity_key: Key | None = None
    timing: Timing = Timing.IN_ADVANCE


class CreditRolloverDocument(_Document):
    """What of a period's plan credits carries into the next: ``min(max, max(min, left))``."""

    max: Amount | None = None
    min: Amount = Decimal(0)


class CreditGrantChargeDocument(_Document):
    """Plan credits (CONTRACT Part 2): ``amount`` granted at each period start (promotional,
    not billed), expiring at its end; ``rollover`` carries what is left into the next."""

    key: Key
    type: Literal["credit_grant"]
    name: str | None = None
    amount: Amount
    priority: Annotated[int, Field(ge=0, le=100, strict=True)] = 50
    applies_to: Literal["usage", "all"] | dict[Literal["charges"], list[Key]] = "usage"
    rollover: CreditRolloverDocument | None = None


ChargeDocument = Annotated[
    FlatChargeDocument | UsageChargeDocument | CreditGrantChargeDocument,
    Field(discriminator="type"),
]


class PlanDocument(_Document):
    key: Key
    name: str | None = None
    currency: Currency
    interval: Interval
    billing_anchor: Anchor = Anchor.SUBSCRIPTION
    trial_days: Annotated[int, Field(ge=0, strict=True)] = 0
    minimum_spend: Amount = Decimal(0)
    charges: list[ChargeDocument] = Field(default_factory=list)


class CatalogDocument(_Document):
    """The whole catalog: ``PUT /v1/catalog`` body, ``tallybook apply FILE`` input."""

    meters: list[MeterDocument] = Field(default_factory=list)
    plans: list[PlanDocument] = Field(default_factory=list)
