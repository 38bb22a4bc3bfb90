"""Price overrides per subscription or per customer (CONTRACT.md, governance).

An override changes one charge of whatever plan version is in force:

- ``multiplier``: every money field of the charge (flat ``amount`` / ``unit_amount``;
  the usage price's ``unit_amount``, tier ``unit_amount`` and ``flat_amount``,
  ``package_amount``, percentage ``rate``, ``fixed_amount``, ``min_per_event`` and
  ``max_per_event``, and the same in ``prices_by_dimension``) times the multiplier. It
  follows list-price changes: a new plan version's prices are multiplied in turn.
- ``overwrite``: the given price fields replace the charge's (``fields``); what is not
  given is inherited from the charge in force, so a list change of an overwritten field
  does not reach the customer.

Precedence: a subscription's override beats its customer's, which beats the plan. Two
overrides of one charge at one level may not overlap in time (``overlaps``).

Rule of time (a decision, docs/governance.md): an override applies to whole billing
periods, those that start inside ``[start, end)``; a period is priced with the
overrides in force at its start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.catalog.model import Charge, FlatCharge, Plan, Price, Tier, UsageCharge
from tallybook.domain.money import round_unit_amount
from tallybook.domain.subscriptions.model import PlanRef

FLAT_FIELDS = frozenset({"amount", "unit_amount"})
PRICE_FIELDS = frozenset(
    {
        "unit_amount",
        "tiers",
        "package_size",
        "package_amount",
        "rate",
        "fixed_amount",
        "min_per_event",
        "max_per_event",
    }
)


class OverrideKind(StrEnum):
    MULTIPLIER = "multiplier"
    OVERWRITE = "overwrite"


class OverrideLevel(StrEnum):
    SUBSCRIPTION = "subscription"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class ChargeOverride:
    """One override of ``charge`` over ``[start, end)`` (``end`` None: open).

    ``fields`` (overwrite) holds typed values: Decimals, and ``tiers`` as ``Tier``s."""

    id: str
    level: OverrideLevel
    charge: str
    kind: OverrideKind
    start: datetime
    end: datetime | None = None
    multiplier: Decimal | None = None
    fields: Mapping[str, Any] | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def overlaps(self, other: ChargeOverride) -> bool:
        """Same level and charge, and the two time ranges share an instant."""
        if (self.level, self.charge) != (other.level, other.charge):
            return False
        before = self.end is not None and self.end <= other.start
        after = other.end is not None and other.end <= self.start
        return not (before or after)


def in_force(
    overrides: Sequence[ChargeOverride], charge: str, at: datetime
) -> ChargeOverride | None:
    """The override of ``charge`` at ``at``: the subscription's, else the customer's."""
    found: dict[OverrideLevel, ChargeOverride] = {}
    for item in overrides:
        if item.charge == charge and item.covers(at):
            found.setdefault(item.level, item)
    return found.get(OverrideLevel.SUBSCRIPTION) or found.get(OverrideLevel.CUSTOMER)


def overridden(plan: Plan, overrides: Sequence[ChargeOverride], at: datetime) -> Plan:
    """``plan`` with the overrides in force at ``at`` applied to its charges."""
    charges = []
    changed = False
    for charge in plan.charges:
        chosen = in_force(overrides, charge.key, at)
        if chosen is None:
            charges.append(charge)
            continue
        charges.append(apply(charge, chosen))
        changed = True
    return replace(plan, charges=tuple(charges)) if changed else plan


def apply(charge: Charge, override: ChargeOverride) -> Charge:
    """One charge under one override."""
    if override.kind is OverrideKind.MULTIPLIER:
        factor = override.multiplier if override.multiplier is not None else Decimal(1)
        return _multiplied(charge, factor)
    fields = dict(override.fields or {})
    if isinstance(charge, FlatCharge):
        return replace(charge, **{k: v for k, v in fields.items() if k in FLAT_FIELDS})
    if isinstance(charge, UsageCharge):
        given = {k: v for k, v in fields.items() if k in PRICE_FIELDS}
        return replace(charge, price=replace(charge.price, **given))
    return charge


def _times(value: Decimal | None, factor: Decimal) -> Decimal | None:
    """``value x factor`` as a price: at most 12 decimal places (``money``'s rule)."""
    return None if value is None else round_unit_amount(value * factor)


def _multiplied(charge: Charge, factor: Decimal) -> Charge:
    if isinstance(charge, FlatCharge):
        return replace(
            charge,
            amount=_times(charge.amount, factor),
            unit_amount=_times(charge.unit_amount, factor),
        )
    if isinstance(charge, UsageCharge):
        return replace(
            charge,
            price=_price_times(charge.price, factor),
            prices_by_dimension={
                k: _price_times(p, factor) for k, p in charge.prices_by_dimension.items()
            },
        )
    return charge


def _price_times(price: Price, factor: Decimal) -> Price:
    tiers = tuple(
        Tier(
            t.up_to,
            round_unit_amount(t.unit_amount * factor),
            round_unit_amount(t.flat_amount * factor),
        )
        for t in price.tiers
    )
    return replace(
        price,
        tiers=tiers,
        unit_amount=_times(price.unit_amount, factor),
        package_amount=_times(price.package_amount, factor),
        rate=_times(price.rate, factor),
        fixed_amount=round_unit_amount(price.fixed_amount * factor),
        min_per_event=_times(price.min_per_event, factor),
        max_per_event=_times(price.max_per_event, factor),
    )


class OverriddenPlans(Mapping[PlanRef, Plan]):
    """A plan book seen through a subscription's overrides at one instant."""

    def __init__(
        self, plans: Mapping[PlanRef, Plan], overrides: Sequence[ChargeOverride], at: datetime
    ):
        self._plans = plans
        self._overrides = tuple(overrides)
        self._at = at
        self._made: dict[PlanRef, Plan] = {}

    def __getitem__(self, ref: PlanRef) -> Plan:
        made = self._made.get(ref)
        if made is None:
            made = overridden(self._plans[ref], self._overrides, self._at)
            self._made[ref] = made
        return made

    def __iter__(self) -> Iterator[PlanRef]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)


# -- JSON (the stored form, used by every store) --------------------------------------


def override_to_json(item: ChargeOverride) -> dict[str, Any]:
    """The stored and shown form: decimals as strings, instants as ISO 8601."""
    fields = None
    if item.fields is not None:
        fields = {k: _value_json(v) for k, v in item.fields.items()}
    return {
        "id": item.id,
        "level": item.level.value,
        "charge": item.charge,
        "kind": item.kind.value,
        "multiplier": None if item.multiplier is None else f"{item.multiplier:f}",
        "fields": fields,
        "from": item.start.isoformat(),
        "to": None if item.end is None else item.end.isoformat(),
    }


def override_from_json(data: Mapping[str, Any]) -> ChargeOverride:
    fields = data.get("fields")
    return ChargeOverride(
        id=str(data["id"]),
        level=OverrideLevel(data["level"]),
        charge=str(data["charge"]),
        kind=OverrideKind(data["kind"]),
        start=datetime.fromisoformat(data["from"]),
        end=None if data.get("to") is None else datetime.fromisoformat(data["to"]),
        multiplier=None if data.get("multiplier") is None else Decimal(data["multiplier"]),
        fields=None if fields is None else {k: _value_from(k, v) for k, v in fields.items()},
    )


def _value_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, tuple):
        return [
            {
                "up_to": None if t.up_to is None else f"{t.up_to:f}",
                "unit_amount": f"{t.unit_amount:f}",
                "flat_amount": f"{t.flat_amount:f}",
            }
            for t in value
        ]
    return value


def _value_from(name: str, value: Any) -> Any:
    if name == "tiers":
        return tuple(
            Tier(
                None if t["up_to"] is None else Decimal(t["up_to"]),
                Decimal(t["unit_amount"]),
                Decimal(t["flat_amount"]),
            )
            for t in value
        )
    return None if value is None else Decimal(value)
