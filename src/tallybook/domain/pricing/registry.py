"""The pricing-model registry: ONE table says, for each model, how it prices, how a line
describes it and which price fields it needs (as lago-api's ``charge_models/factory.rb``);
and ``CHARGE_TYPES`` says, for each charge type of a plan, its class and whether it
yields invoice lines (``credit_grant`` grants plan credits and bills nothing).

Adding a model is one module (``per_unit.py`` ... ``percentage.py``: a price function, a
``describe`` function, ``REQUIRED`` and ``OPTIONAL`` fields) and one entry in ``MODELS``.
Every price function is pure and returns an **unrounded** ``PriceResult``; rounding
happens once per invoice line, in ``rating`` through ``money.round_amount``.

Units here are the *billable* units: the allowance (``included``) has already been
consumed by ``rating``. Units may be fractional (GB, hours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tallybook.domain.catalog.model import (
    Charge,
    CreditGrantCharge,
    FlatCharge,
    Price,
    PricingModel,
    UsageCharge,
)
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT
from tallybook.domain.pricing import graduated, package, per_unit, percentage, volume
from tallybook.domain.pricing.result import Describe, PriceFunction, PriceResult

__all__ = [
    "CHARGE_TYPES",
    "MODELS",
    "ChargeType",
    "ModelSpec",
    "billed_charge_keys",
    "charge_type",
    "describe",
    "price_units",
]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One pricing model: its price function, its line description, its price fields
    (``required`` must be given, ``optional`` may be; any other field is an error)."""

    price: PriceFunction
    describe: Describe
    required: tuple[str, ...]
    optional: tuple[str, ...]


MODELS: dict[PricingModel, ModelSpec] = {
    PricingModel.PER_UNIT: ModelSpec(
        per_unit.price_per_unit, per_unit.describe, per_unit.REQUIRED, per_unit.OPTIONAL
    ),
    PricingModel.GRADUATED: ModelSpec(
        graduated.price_graduated, graduated.describe, graduated.REQUIRED, graduated.OPTIONAL
    ),
    PricingModel.VOLUME: ModelSpec(
        volume.price_volume, volume.describe, volume.REQUIRED, volume.OPTIONAL
    ),
    PricingModel.PACKAGE: ModelSpec(
        package.price_package, package.describe, package.REQUIRED, package.OPTIONAL
    ),
    PricingModel.PERCENTAGE: ModelSpec(
        percentage.price_percentage, percentage.describe, percentage.REQUIRED, percentage.OPTIONAL
    ),
}


@dataclass(frozen=True, slots=True)
class ChargeType:
    """One charge type: the domain class of its charges and whether they bill lines."""

    kind: type
    yields_lines: bool


CHARGE_TYPES: dict[str, ChargeType] = {
    "flat": ChargeType(FlatCharge, yields_lines=True),
    "usage": ChargeType(UsageCharge, yields_lines=True),
    "credit_grant": ChargeType(CreditGrantCharge, yields_lines=False),
}


def charge_type(charge: Charge) -> str:
    """The ``type`` of ``charge`` as the catalog document spells it."""
    return next(name for name, spec in CHARGE_TYPES.items() if isinstance(charge, spec.kind))


def billed_charge_keys(charges: Sequence[Charge]) -> set[str]:
    """The keys of the charges that bill invoice lines (what ``applies_to`` may name)."""
    return {c.key for c in charges if CHARGE_TYPES[charge_type(c)].yields_lines}


def price_units(
    price: Price, units: Decimal, *, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Price ``units`` billable units with ``price`` (exact, unrounded).

    ``event_values`` are the per-event values (after the allowance) for the percentage
    model; other models ignore them. ValidationError for negative units or a malformed price.
    """
    if units < 0:
        raise ValidationError(
            f"billable units cannot be negative, got {units}", code="invalid_units"
        )
    with localcontext(DECIMAL_CONTEXT):
        return MODELS[price.model].price(price, units, event_values)


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """The pricing part of a usage line's description (``x 0.002 USD``, tiers, packages)."""
    return MODELS[price.model].describe(price, result, units, currency)
