"""Between the catalog document and the domain catalog.

``to_domain`` turns a *checked* ``CatalogDocument`` into frozen domain objects, filling
in defaults. ``catalog_to_document`` goes back to a JSON-ready mapping (decimals as
strings, fields in a stable order, only the fields a model uses) for GET endpoints,
``tallybook apply`` diffs and round trips: ``parse_catalog(catalog_to_document(c)) == c``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tallybook.documents.catalog.models import (
    CatalogDocument,
    CreditGrantChargeDocument,
    FlatChargeDocument,
    MeterDocument,
    PlanDocument,
    PriceDocument,
    UsageChargeDocument,
)
from tallybook.domain.catalog.model import (
    AllowanceRollover,
    Catalog,
    Charge,
    CreditGrantCharge,
    CreditRollover,
    FlatCharge,
    Meter,
    MeterSource,
    PackageRounding,
    Plan,
    Price,
    Tier,
    UsageCharge,
)
from tallybook.domain.money import format_decimal
from tallybook.domain.pricing.registry import MODELS, charge_type

JsonDict = dict[str, Any]


def to_domain(document: CatalogDocument) -> Catalog:
    meters = {meter.key: meter for meter in document.meters}
    return Catalog(
        meters=tuple(_meter(meter) for meter in document.meters),
        plans=tuple(_plan(plan, meters) for plan in document.plans),
    )


def _meter(meter: MeterDocument) -> Meter:
    return Meter(
        key=meter.key,
        event_type=meter.event_type,
        aggregation=meter.aggregation,
        value=meter.value,
        filter={name: tuple(values) for name, values in meter.filter.items()},
        group_by=tuple(meter.group_by),
        name=meter.name,
        sources=tuple(
            MeterSource(
                event_type=source.event_type,
                value=source.value,
                multiplier=source.multiplier,
                filter={name: tuple(values) for name, values in source.filter.items()},
            )
            for source in meter.sources or ()
        ),
    )


def _plan(plan: PlanDocument, meters: dict[str, MeterDocument]) -> Plan:
    return Plan(
        key=plan.key,
        name=plan.name or plan.key,
        currency=plan.currency,
        interval=plan.interval,
        billing_anchor=plan.billing_anchor,
        trial_days=plan.trial_days,
        minimum_spend=plan.minimum_spend,
        charges=tuple(_charge(charge, meters) for charge in plan.charges),
    )


def _charge(
    charge: FlatChargeDocument | UsageChargeDocument | CreditGrantChargeDocument,
    meters: dict[str, MeterDocument],
) -> Charge:
    if isinstance(charge, CreditGrantChargeDocument):
        return _credit_grant(charge)
    if isinstance(charge, FlatChargeDocument):
        return FlatCharge(
            key=charge.key,
            amount=charge.amount,
            unit_amount=charge.unit_amount,
            quantity_key=charge.quantity_key,
            timing=charge.timing,
            name=charge.name,
        )
    prices = charge.prices_by_dimension or {}
    dimension = charge.dimension
    meter = meters.get(charge.meter)  # absent when converting a stored plan on its own
    if dimension is None and prices and meter is not None and meter.group_by:
        dimension = meter.group_by[0]  # checks: the meter has exactly one group_by
    return UsageCharge(
        key=charge.key,
        meter=charge.meter,
        price=_price(charge),
        included=charge.included,
        prices_by_dimension={value: _price(price) for value, price in prices.items()},
        dimension=dimension,
        name=charge.name,
        rollover=None if charge.rollover is None else AllowanceRollover(max=charge.rollover.max),
    )


def _credit_grant(charge: CreditGrantChargeDocument) -> CreditGrantCharge:
    scope = charge.applies_to
    rollover = charge.rollover
    return CreditGrantCharge(
        key=charge.key,
        amount=charge.amount,
        priority=charge.priority,
        applies_to=scope if isinstance(scope, str) else "charges",
        applies_to_charges=() if isinstance(scope, str) else tuple(scope["charges"]),
        rollover=None if rollover is None else CreditRollover(rollover.max, rollover.min),
        name=charge.name,
    )


def _price(price: PriceDocument) -> Price:
    return Price(
        model=price.model,
        unit_amount=price.unit_amount,
        tiers=tuple(
            Tier(up_to=t.up_to, unit_amount=t.unit_amount, flat_amount=t.flat_amount)
            for t in price.tiers or ()
        ),
        package_size=price.package_size,
        package_amount=price.package_amount,
        rounding=price.rounding or PackageRounding.UP,
        rate=price.rate,
        fixed_amount=price.fixed_amount if price.fixed_amount is not None else Decimal(0),
        min_per_event=price.min_per_event,
        max_per_event=price.max_per_event,
    )


# -- domain -> document ----------------------------------------------------------------


def catalog_to_document(catalog: Catalog) -> JsonDict:
    """The catalog as a JSON-ready document (decimals as strings, ``None`` fields left out)."""
    return {
        "meters": [_meter_document(meter) for meter in catalog.meters],
        "plans": [_plan_document(plan) for plan in catalog.plans],
    }


def _meter_document(meter: Meter) -> JsonDict:
    document: JsonDict = {
        "key": meter.key,
        "event_type": meter.event_type,
        "aggregation": meter.aggregation.value,
        "value": meter.value,
        "filter": {name: list(values) for name, values in meter.filter.items()} or None,
        "group_by": list(meter.group_by) or None,
        "name": meter.name,
    }
    if meter.sources:
        document["sources"] = [
            _present(
                {
                    "event_type": source.event_type,
                    "value": source.value,
                    "multiplier": format_decimal(source.multiplier),
                    "filter": {k: list(v) for k, v in source.filter.items()} or None,
                }
            )
            for source in meter.sources
        ]
    return _present(document)


def _plan_document(plan: Plan) -> JsonDict:
    return {
        "key": plan.key,
        "name": plan.name,
        "currency": plan.currency,
        "interval": plan.interval.value,
        "billing_anchor": plan.billing_anchor.value,
        "trial_days": plan.trial_days,
        "minimum_spend": format_decimal(plan.minimum_spend),
        "charges": [_charge_document(charge) for charge in plan.charges],
    }


def _charge_document(charge: Charge) -> JsonDict:
    if isinstance(charge, CreditGrantCharge):
        return _credit_grant_document(charge)
    if isinstance(charge, FlatCharge):
        return _present(
            {
                "key": charge.key,
                "type": "flat",
                "name": charge.name,
                "amount": _text(charge.amount),
                "unit_amount": _text(charge.unit_amount),
                "quantity_key": charge.quantity_key,
                "timing": charge.timing.value,
            }
        )
    document: JsonDict = {
        "key": charge.key,
        "type": "usage",
        "name": charge.name,
        "meter": charge.meter,
        "included": format_decimal(charge.included),
        **_price_document(charge.price),
        "dimension": charge.dimension,
    }
    if charge.rollover is not None:
        document["rollover"] = {"max": format_decimal(charge.rollover.max)}
    if charge.prices_by_dimension:
        document["prices_by_dimension"] = {
            value: _price_document(price) for value, price in charge.prices_by_dimension.items()
        }
    return _present(document)


def _credit_grant_document(charge: CreditGrantCharge) -> JsonDict:
    rollover = charge.rollover
    scope = charge.applies_to
    return _present(
        {
            "key": charge.key,
            "type": charge_type(charge),
            "name": charge.name,
            "amount": format_decimal(charge.amount),
            "priority": charge.priority,
            "applies_to": (
                {"charges": list(charge.applies_to_charges)} if scope == "charges" else scope
            ),
            "rollover": None
            if rollover is None
            else _present({"max": _text(rollover.max), "min": format_decimal(rollover.min)}),
        }
    )


def _price_document(price: Price) -> JsonDict:
    """Only the fields the model uses (so the document reads back without errors)."""
    spec = MODELS[price.model]
    required, optional = spec.required, spec.optional
    values: JsonDict = {
        "unit_amount": _text(price.unit_amount),
        "tiers": [_tier_document(tier) for tier in price.tiers],
        "package_size": _text(price.package_size),
        "package_amount": _text(price.package_amount),
        "rounding": price.rounding.value,
        "rate": _text(price.rate),
        "fixed_amount": format_decimal(price.fixed_amount),
        "min_per_event": _text(price.min_per_event),
        "max_per_event": _text(price.max_per_event),
    }
    used = {name: values[name] for name in (*required, *optional)}
    return _present({"model": price.model.value, **used})


def _tier_document(tier: Tier) -> JsonDict:
    return {
        "up_to": _text(tier.up_to),
        "unit_amount": format_decimal(tier.unit_amount),
        "flat_amount": format_decimal(tier.flat_amount),
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def _present(document: JsonDict) -> JsonDict:
    return {name: value for name, value in document.items() if value is not None}
