"""Rules of a catalog document that relate several fields, each reported at its place.

Runs on a document whose shape ``models`` already accepted. Every check appends
``CatalogIssue``s to a ``_Report``; nothing stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.documents.catalog.issues import CatalogIssue, Location, format_location
from tallybook.documents.catalog.models import (
    CatalogDocument,
    CreditGrantChargeDocument,
    FlatChargeDocument,
    MeterDocument,
    PlanDocument,
    PriceDocument,
    TierDocument,
    UsageChargeDocument,
)
from tallybook.domain.catalog.model import Aggregation, PricingModel, Timing
from tallybook.domain.money import format_decimal, minor_units, round_amount
from tallybook.domain.pricing.registry import CHARGE_TYPES, MODELS

PRICE_FIELDS = tuple(name for name in PriceDocument.model_fields if name != "model")
FIELD_HINTS = {
    "unit_amount": "the price of one unit",
    "tiers": "a list of {up_to, unit_amount, flat_amount}",
    "package_size": "how many units make one package",
    "package_amount": "the price of one package",
    "rate": "the percent of each event's value",
}
VALUE_AGGREGATIONS = frozenset(Aggregation) - {Aggregation.COUNT}


class _Report:
    def __init__(self) -> None:
        self.issues: list[CatalogIssue] = []

    def add(self, location: Location, message: str) -> None:
        self.issues.append(CatalogIssue(format_location(location), message))


def check_document(document: CatalogDocument, prefix: Location = ()) -> list[CatalogIssue]:
    """Every cross-field problem of ``document``; locations start with ``prefix``."""
    report = _Report()
    meters = {meter.key: meter for meter in document.meters}
    _check_unique([m.key for m in document.meters], (*prefix, "meters"), "meter", report)
    for index, meter in enumerate(document.meters):
        _check_meter(meter, (*prefix, "meters", index), report)
    _check_unique([p.key for p in document.plans], (*prefix, "plans"), "plan", report)
    for index, plan in enumerate(document.plans):
        _check_plan(plan, (*prefix, "plans", index), meters, report)
    return report.issues


def _check_unique(keys: Sequence[str], at: Location, kind: str, report: _Report) -> None:
    first_seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first_seen:
            first = format_location((*at, first_seen[key]))
            report.add((*at, index, "key"), f"duplicate {kind} key {key!r} (first at {first})")
        else:
            first_seen[key] = index


def _check_meter(meter: MeterDocument, at: Location, report: _Report) -> None:
    if meter.sources is not None or meter.event_type is None:
        _check_sources(meter, at, report)
    elif meter.aggregation in VALUE_AGGREGATIONS and meter.value is None:
        report.add(
            (*at, "value"),
            f"a {meter.aggregation.value} meter needs value: the event property it aggregates "
            '(e.g. "tokens" or "usage.tokens")',
        )
    seen: set[str] = set()
    for index, name in enumerate(meter.group_by):
        if name in seen:
            report.add((*at, "group_by", index), f"duplicate group_by property {name!r}")
        seen.add(name)


def _check_sources(meter: MeterDocument, at: Location, report: _Report) -> None:
    """A weighted meter: ``sources`` instead of ``event_type`` (and of its ``value`` and
    ``filter``), aggregation ``sum``, at least one source, no source listed twice."""
    if meter.sources is None:
        report.add(
            (*at, "event_type"),
            "a meter needs event_type, or (for a weighted sum meter) sources: "
            "[{event_type, value, multiplier, filter}]",
        )
        return
    if meter.event_type is not None:
        report.add(
            (*at, "event_type"),
            "give either event_type or sources, not both (each source names its event_type)",
        )
    for name in ("value", "filter"):
        if getattr(meter, name):
            report.add((*at, name), f"a meter with sources takes {name} on each source")
    if meter.aggregation is not Aggregation.SUM:
        report.add(
            (*at, "aggregation"),
            f"a meter with sources must aggregate with sum, not {meter.aggregation.value}",
        )
    if not meter.sources:
        report.add((*at, "sources"), "list at least one source")
    seen: dict[tuple[object, ...], int] = {}
    for index, source in enumerate(meter.sources):
        identity = (
            source.event_type,
            source.value,
            tuple(sorted((k, tuple(sorted(v))) for k, v in source.filter.items())),
        )
        if identity in seen:
            first = format_location((*at, "sources", seen[identity]))
            report.add(
                (*at, "sources", index),
                f"duplicate source: the same event_type, value and filter as {first}",
            )
        else:
            seen[identity] = index


def _check_plan(
    plan: PlanDocument, at: Location, meters: dict[str, MeterDocument], report: _Report
) -> None:
    _check_minor_units(plan.minimum_spend, plan.currency, (*at, "minimum_spend"), report)
    _check_unique([c.key for c in plan.charges], (*at, "charges"), "charge", report)
    for index, charge in enumerate(plan.charges):
        where = (*at, "charges", index)
        if isinstance(charge, CreditGrantChargeDocument):
            _check_credit_grant(charge, plan, where, report)
        elif isinstance(charge, FlatChargeDocument):
            _check_flat(charge, plan.currency, where, report)
        else:
            _check_usage(charge, where, meters, report)


def _check_minor_units(value: Decimal | None, currency: str, at: Location, report: _Report) -> None:
    if value is not None and round_amount(value, currency) != value:
        report.add(
            at,
            f"{format_decimal(value)} has more decimal places than {currency} allows "
            f"({minor_units(currency)})",
        )


def _check_flat(charge: FlatChargeDocument, currency: str, at: Location, report: _Report) -> None:
    if charge.amount is not None and (charge.unit_amount is not None or charge.quantity_key):
        report.add(
            (*at, "amount"),
            "give either amount, or unit_amount with quantity_key (per-seat), not both",
        )
    elif charge.amount is None and charge.unit_amount is None and charge.quantity_key is None:
        report.add(at, "a flat charge needs amount, or unit_amount with quantity_key (per-seat)")
    elif charge.unit_amount is not None and charge.quantity_key is None:
        report.add(
            (*at, "quantity_key"),
            "unit_amount needs quantity_key: the subscription quantity it multiplies (e.g. seats)",
        )
    elif charge.quantity_key is not None and charge.unit_amount is None:
        report.add((*at, "unit_amount"), "quantity_key needs unit_amount: the price per unit")
    _check_minor_units(charge.amount, currency, (*at, "amount"), report)


def _check_credit_grant(
    charge: CreditGrantChargeDocument, plan: PlanDocument, at: Location, report: _Report
) -> None:
    """A positive amount in the currency's minor unit; a coherent rollover; ``applies_to``
    naming charges of this plan that bill lines (``CHARGE_TYPES``)."""
    if charge.amount <= 0:
        report.add((*at, "amount"), "plan credits need an amount greater than 0")
    _check_minor_units(charge.amount, plan.currency, (*at, "amount"), report)
    rollover = charge.rollover
    if rollover is not None:
        _check_minor_units(rollover.min, plan.currency, (*at, "rollover", "min"), report)
        _check_minor_units(rollover.max, plan.currency, (*at, "rollover", "max"), report)
        if rollover.max is not None and rollover.max < rollover.min:
            report.add(
                (*at, "rollover", "max"),
                f"rollover max {format_decimal(rollover.max)} is below min "
                f"{format_decimal(rollover.min)}",
            )
    if isinstance(charge.applies_to, dict):
        billed = {c.key for c in plan.charges if CHARGE_TYPES[c.type].yields_lines}
        for index, key in enumerate(charge.applies_to.get("charges", [])):
            if key not in billed:
                report.add(
                    (*at, "applies_to", "charges", index),
                    f"{key!r} is not a charge of plan {plan.key!r} that bills lines",
                )
        if not charge.applies_to.get("charges"):
            report.add((*at, "applies_to", "charges"), "name at least one charge")


def _check_usage(
    charge: UsageChargeDocument, at: Location, meters: dict[str, MeterDocument], report: _Report
) -> None:
    if charge.timing is Timing.IN_ADVANCE:
        report.add((*at, "timing"), "usage charges are billed in arrears (timing: in_arrears)")
    if charge.rollover is not None and charge.included == 0:
        report.add(
            (*at, "rollover"),
            "rollover carries unused included units: give the charge an included allowance",
        )
    _check_price(charge, at, report)
    meter = meters.get(charge.meter)
    if meter is None:
        known = ", ".join(repr(key) for key in meters) or "none"
        report.add((*at, "meter"), f"unknown meter {charge.meter!r} (meters defined: {known})")
    else:
        _check_dimension(charge, meter, at, report)
        if meter.sources is not None and _prices_events(charge):
            report.add(
                (*at, "model"),
                f"meter {meter.key!r} has sources: its events have no single value "
                "for the percentage model to price",
            )
    for value, price in (charge.prices_by_dimension or {}).items():
        _check_price(price, (*at, "prices_by_dimension", value), report)


def _prices_events(charge: UsageChargeDocument) -> bool:
    prices = [charge, *(charge.prices_by_dimension or {}).values()]
    return any(price.model is PricingModel.PERCENTAGE for price in prices)


def _check_dimension(
    charge: UsageChargeDocument, meter: MeterDocument, at: Location, report: _Report
) -> None:
    group_by = ", ".join(meter.group_by) or "nothing"
    if charge.dimension is not None and charge.dimension not in meter.group_by:
        report.add(
            (*at, "dimension"),
            f"{charge.dimension!r} is not a group_by property of meter {meter.key!r} "
            f"(it groups by {group_by})",
        )
    elif charge.prices_by_dimension and charge.dimension is None and len(meter.group_by) != 1:
        if meter.group_by:
            report.add(
                (*at, "dimension"),
                f"meter {meter.key!r} groups by {group_by}: "
                "say which one prices_by_dimension keys on",
            )
        else:
            report.add(
                (*at, "prices_by_dimension"),
                f"meter {meter.key!r} has no group_by, so there is no dimension to price by",
            )


def _check_price(price: PriceDocument, at: Location, report: _Report) -> None:
    """The model's required fields are present, other price fields absent, values coherent."""
    spec = MODELS[price.model]  # the fields each model requires, and the optional ones
    required, optional = spec.required, spec.optional
    model = price.model.value
    for name in PRICE_FIELDS:
        given = getattr(price, name) is not None
        if name in required and not given:
            report.add((*at, name), f"the {model} model needs {name}: {FIELD_HINTS[name]}")
        elif given and name not in required and name not in optional:
            report.add((*at, name), f"{name} is not used by the {model} model")
    if price.tiers:
        _check_tiers(price.tiers, (*at, "tiers"), report)
    elif price.tiers is not None and "tiers" in required:
        report.add((*at, "tiers"), f"the {model} model needs at least one tier")
    low, high = price.min_per_event, price.max_per_event
    if low is not None and high is not None and low > high:
        report.add(
            (*at, "max_per_event"),
            f"max_per_event {format_decimal(high)} is below min_per_event {format_decimal(low)}",
        )


def _check_tiers(tiers: Sequence[TierDocument], at: Location, report: _Report) -> None:
    previous = None
    for index, tier in enumerate(tiers):
        if index > 0 and tiers[index - 1].up_to is None:
            report.add(
                (*at, index),
                "a tier after the open-ended one (up_to: null) can never be reached",
            )
            return
        if tier.up_to is not None and previous is not None and tier.up_to <= previous:
            report.add(
                (*at, index, "up_to"),
                f"tiers must be ascending: {format_decimal(tier.up_to)} "
                f"is not above {format_decimal(previous)}",
            )
        previous = tier.up_to if tier.up_to is not None else previous
    if tiers[-1].up_to is not None:
        report.add(
            (*at, len(tiers) - 1, "up_to"),
            "the last tier must be open-ended (up_to: null) so every unit has a price",
        )
