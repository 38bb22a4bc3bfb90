"""Catalog value objects: meters, plans and their charges (standard library only).

These are what pricing, rating and billing compute with. The YAML/JSON documents that
RevOps edit are parsed and validated by ``tallybook.documents.catalog.document`` (pydantic) and
converted into these frozen dataclasses; nothing here parses text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tallybook.domain.periods import Anchor, Interval


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    UNIQUE_COUNT = "unique_count"
    LATEST = "latest"
    TIME_WEIGHTED_AVERAGE = "time_weighted_average"


class Timing(StrEnum):
    IN_ADVANCE = "in_advance"
    IN_ARREARS = "in_arrears"


class PricingModel(StrEnum):
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    PERCENTAGE = "percentage"


class PackageRounding(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class MeterSource:
    """One event type feeding a weighted ``sum`` meter (CONTRACT.md Part 2, "Weighted meters").

    Each matching event contributes ``multiplier`` x its value at ``value`` (a property
    path), or ``multiplier`` alone when ``value`` is None (the source counts events).
    ``multiplier`` is a positive Decimal; ``filter`` narrows the events as a meter's does.
    """

    event_type: str
    value: str | None = None
    multiplier: Decimal = Decimal(1)
    filter: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter: one ``event_type`` (with ``value`` and ``filter``), or, for a weighted
    ``sum`` meter, several ``sources`` (then ``event_type`` is None and ``value`` and
    ``filter`` are unused: each source has its own)."""

    key: str
    event_type: str | None
    aggregation: Aggregation
    value: str | None = None  # property path, dotted for nested ("usage.tokens")
    filter: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    name: str | None = None
    sources: tuple[MeterSource, ...] = ()

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type the meter reads, in order, without repeats."""
        if self.sources:
            return tuple(dict.fromkeys(source.event_type for source in self.sources))
        return () if self.event_type is None else (self.event_type,)


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None  # inclusive upper bound; None = open-ended last tier
    unit_amount: Decimal = Decimal(0)
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Price:
    """How billable units of a usage charge become money (one of ``PricingModel``)."""

    model: PricingModel
    unit_amount: Decimal | None = None  # per_unit
    tiers: tuple[Tier, ...] = ()  # graduated, volume
    package_size: Decimal | None = None  # package
    package_amount: Decimal | None = None
    rounding: PackageRounding = PackageRounding.UP
    rate: Decimal | None = None  # percentage: percent of each event's value
    fixed_amount: Decimal = Decimal(0)  # percentage: per event
    min_per_event: Decimal | None = None
    max_per_event: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FlatCharge:
    """A fixed fee per period; with ``quantity_key`` it is ``unit_amount`` x licensed quantity."""

    key: str
    amount: Decimal | None = None
    unit_amount: Decimal | None = None
    quantity_key: str | None = None
    timing: Timing = Timing.IN_ADVANCE
    name: str | None = None

    @property
    def is_licensed(self) -> bool:
        return self.quantity_key is not None


@dataclass(frozen=True, slots=True)
class AllowanceRollover:
    """``rollover: {max}`` on a usage charge: unused ``included`` units carry into the next
    period only, at most ``max`` of them (``domain.billing.rollover``)."""

    max: Decimal


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """Metered usage: ``included`` units first, then ``price`` on the rest (always in arrears).

    With ``rollover``, the unused part of a period's allowance carries into the next one."""

    key: str
    meter: str
    price: Price
    included: Decimal = Decimal(0)
    prices_by_dimension: Mapping[str, Price] = field(default_factory=dict)
    dimension: str | None = None  # which group_by property prices_by_dimension keys on
    name: str | None = None
    rollover: AllowanceRollover | None = None


@dataclass(frozen=True, slots=True)
class CreditRollover:
    """What of a period's plan credits carries into the next period:
    ``min(max, max(min, remaining))`` (``max`` None: no cap)."""

    max: Decimal | None = None
    min: Decimal = Decimal(0)

    def carried(self, remaining: Decimal) -> Decimal:
        floor = max(self.min, remaining)
        return floor if self.max is None else min(self.max, floor)


@dataclass(frozen=True, slots=True)
class CreditGrantCharge:
    """Plan credits: ``amount`` granted (promotional, not billed) at each period start,
    expiring at the period's end, drawn at ``priority`` by the lines ``applies_to`` names
    (``"usage"``, ``"all"``, or the charge keys in ``applies_to_charges``); ``rollover``
    None: nothing carries over. It yields no invoice line."""

    key: str
    amount: Decimal
    priority: int = 50
    applies_to: str = "usage"  # usage | all | charges
    applies_to_charges: tuple[str, ...] = ()
    rollover: CreditRollover | None = None
    name: str | None = None


Charge = FlatCharge | UsageCharge | CreditGrantCharge


@dataclass(frozen=True, slots=True)
class Plan:
    key: str
    name: str
    currency: str
    interval: Interval
    billing_anchor: Anchor = Anchor.SUBSCRIPTION
    trial_days: int = 0
    minimum_spend: Decimal = Decimal(0)
    charges: tuple[Charge, ...] = ()
    version: int = 1

    def charge(self, key: str) -> Charge | None:
        return next((c for c in self.charges if c.key == key), None)

    @property
    def usage_charges(self) -> tuple[UsageCharge, ...]:
        return tuple(c for c in self.charges if isinstance(c, UsageCharge))

    @property
    def flat_charges(self) -> tuple[FlatCharge, ...]:
        return tuple(c for c in self.charges if isinstance(c, FlatCharge))

    @property
    def credit_grants(self) -> tuple[CreditGrantCharge, ...]:
        return tuple(c for c in self.charges if isinstance(c, CreditGrantCharge))


@dataclass(frozen=True, slots=True)
class Catalog:
    meters: tuple[Meter, ...] = ()
    plans: tuple[Plan, ...] = ()

    def meter(self, key: str) -> Meter | None:
        return next((m for m in self.meters if m.key == key), None)

    def plan(self, key: str) -> Plan | None:
        return next((p for p in self.plans if p.key == key), None)
