"""Price overrides per subscription and per customer (rules: ``domain.governance.overrides``).

- A subscription's override is part of its schedule, written under the subscription's
  lock (``SubscriptionService.add_override``): overlapping ones of the same charge are
  ``409 override_overlap``, one starting in a finalized period ``409 period_finalized``.
- A customer's override is stored once (``GovernanceStore.insert_override``, overlap
  checked under a lock) and copied, as a ``customer``-level override, into each of the
  customer's subscriptions, and into the ones created later
  (``SubscriptionService.customer_overrides``).
- The charge must exist in the plan in force (for a customer: in the plan of one of its
  subscriptions): ``422 charge_not_in_plan``. Overwrite fields are validated by merging
  them into that charge and parsing it as a catalog charge (``422 invalid_override``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tallybook.documents.catalog.document import CatalogInvalid
from tallybook.domain.catalog.model import Catalog, Charge, FlatCharge, Plan, UsageCharge
from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.governance.overrides import (
    FLAT_FIELDS,
    PRICE_FIELDS,
    ChargeOverride,
    OverrideKind,
    OverrideLevel,
    override_from_json,
    override_to_json,
)
from tallybook.domain.ids import new_id_at
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.catalog import CatalogService, plan_document
from tallybook.services.customers import CustomerService
from tallybook.services.ports import Clock, GovernanceStore, JsonDict, PriceOverrideRow
from tallybook.services.subscriptions import SubscriptionService

MAX_MULTIPLIER = Decimal(100)


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    """An override as asked for: ``fields`` are the overwrite's price fields as JSON."""

    charge: str
    kind: OverrideKind
    start: datetime | None = None
    end: datetime | None = None
    multiplier: Decimal | None = None
    fields: Mapping[str, Any] | None = None


class OverrideService:
    """Create, list and end price overrides."""

    def __init__(
        self,
        store: GovernanceStore,
        subscriptions: SubscriptionService,
        customers: CustomerService,
        catalog: CatalogService,
        clock: Clock,
    ):
        self._store = store
        self._customers = customers
        self._subscriptions = subscriptions
        self._catalog = catalog
        self._clock = clock

    # -- subscription level -------------------------------------------------------------

    def add_to_subscription(
        self, tenant_id: str, subscription_id: str, spec: OverrideSpec
    ) -> ChargeOverride:
        stored = self._subscriptions.get(tenant_id, subscription_id)
        start = spec.start or self._clock.now()
        plan = self._plan_at(tenant_id, stored, start)
        override = self._build(tenant_id, OverrideLevel.SUBSCRIPTION, spec, start, [plan])
        self._subscriptions.add_override(tenant_id, subscription_id, override)
        return override

    def of_subscription(self, tenant_id: str, subscription_id: str) -> list[ChargeOverride]:
        """Its own and its customer's overrides, by start."""
        sub = self._subscriptions.get(tenant_id, subscription_id).subscription
        return sorted(sub.overrides, key=lambda o: (o.start, o.id))

    def end_on_subscription(
        self, tenant_id: str, subscription_id: str, override_id: str
    ) -> ChargeOverride:
        """End (or, not started, remove) one of the subscription's own overrides."""
        sub = self._subscriptions.get(tenant_id, subscription_id).subscription
        own = next(
            (
                o
                for o in sub.overrides
                if o.id == override_id and o.level is OverrideLevel.SUBSCRIPTION
            ),
            None,
        )
        if own is None:
            raise _not_found(override_id)
        stored = self._subscriptions.end_override(
            tenant_id, subscription_id, override_id, self._clock.now()
        )
        kept = [o for o in stored.subscription.overrides if o.id == override_id]
        return kept[0] if kept else own

    # -- customer level -----------------------------------------------------------------

    def add_to_customer(
        self, tenant_id: str, customer_id: str, spec: OverrideSpec
    ) -> ChargeOverride:
        self._customers.get(tenant_id, customer_id)  # NotFound customer_not_found
        subs = self._subscriptions.page(tenant_id, customer=customer_id, limit=1000)
        start = spec.start or self._clock.now()
        plans = [self._plan_at(tenant_id, s, start) for s in subs]
        if not subs:
            raise ValidationError(
                f"customer {customer_id!r} has no subscription whose plan has charge "
                f"{spec.charge!r}",
                code="charge_not_in_plan",
                details={"charge": spec.charge},
            )
        override = self._build(tenant_id, OverrideLevel.CUSTOMER, spec, start, plans)
        row = _row(customer_id, override, self._clock.now())
        clash = self._store.insert_override(tenant_id, row)
        if clash is not None:
            raise Conflict(
                f"override {clash.id} of charge {spec.charge!r} for this customer overlaps "
                "that time",
                code="override_overlap",
                details={"override": clash.id, "charge": spec.charge},
            )
        for stored in subs:
            self._subscriptions.add_override(tenant_id, stored.subscription.id, override)
        return override

    def of_customer(self, tenant_id: str, customer_id: str) -> list[ChargeOverride]:
        rows = self._store.overrides(tenant_id, OverrideLevel.CUSTOMER.value, [customer_id])
        return [_from_row(r) for r in rows]

    def inherited(self, tenant_id: str, customer_id: str) -> list[ChargeOverride]:
        """What a new subscription of the customer inherits (``customer_overrides``)."""
        return self.of_customer(tenant_id, customer_id)

    def end_on_customer(self, tenant_id: str, customer_id: str, override_id: str) -> None:
        found = [o for o in self.of_customer(tenant_id, customer_id) if o.id == override_id]
        if not found:
            raise _not_found(override_id)
        now = self._clock.now()
        for stored in self._subscriptions.page(tenant_id, customer=customer_id, limit=1000):
            if any(o.id == override_id for o in stored.subscription.overrides):
                self._subscriptions.end_override(
                    tenant_id, stored.subscription.id, override_id, now
                )
        self._store.delete_override(
            tenant_id, OverrideLevel.CUSTOMER.value, customer_id, override_id
        )

    # -- building -----------------------------------------------------------------------

    def _plan_at(self, tenant_id: str, stored: StoredSubscription, at: datetime) -> Plan:
        sub = stored.subscription
        ref = sub.phase_at(max(at, sub.start)).plan
        return self._catalog.get_plan(tenant_id, ref.key, ref.version)

    def _build(
        self,
        tenant_id: str,
        level: OverrideLevel,
        spec: OverrideSpec,
        start: datetime,
        plans: Sequence[Plan],
    ) -> ChargeOverride:
        if spec.end is not None and spec.end <= start:
            raise ValidationError("to must be after from", code="invalid_range")
        with_charge = [p for p in plans if any(c.key == spec.charge for c in p.charges)]
        if not with_charge:
            raise ValidationError(
                f"the plan has no charge {spec.charge!r}",
                code="charge_not_in_plan",
                details={"charge": spec.charge, "plans": sorted({p.key for p in plans})},
            )
        charge = next(c for c in with_charge[0].charges if c.key == spec.charge)
        if not isinstance(charge, (FlatCharge, UsageCharge)):
            raise _not_priced(spec.charge)
        fields = None
        multiplier = None
        if spec.kind is OverrideKind.MULTIPLIER:
            multiplier = _multiplier(spec)
        else:
            fields = _typed_fields(
                with_charge[0],
                spec.charge,
                dict(spec.fields or {}),
                lambda document: self._catalog.parse(tenant_id, document),
            )
        now = self._clock.now()
        return ChargeOverride(
            id=new_id_at("ovr", now),
            level=level,
            charge=spec.charge,
            kind=spec.kind,
            start=start,
            end=spec.end,
            multiplier=multiplier,
            fields=fields,
        )


def _multiplier(spec: OverrideSpec) -> Decimal:
    if spec.fields:
        raise ValidationError(
            "a multiplier override takes no price fields", code="invalid_override"
        )
    value = spec.multiplier
    if value is None or not Decimal(0) <= value <= MAX_MULTIPLIER:
        raise ValidationError(
            f"multiplier must be a decimal from 0 to {MAX_MULTIPLIER}",
            code="invalid_override",
        )
    return value


def _typed_fields(
    plan: Plan, charge_key: str, fields: dict[str, Any], parse: Callable[[JsonDict], Catalog]
) -> dict[str, Any]:
    """The overwrite's fields as typed values, checked by parsing the merged charge."""
    if not fields:
        raise ValidationError(
            "an overwrite override needs at least one price field", code="invalid_override"
        )
    charge = next(c for c in plan.charges if c.key == charge_key)
    allowed = FLAT_FIELDS if isinstance(charge, FlatCharge) else PRICE_FIELDS
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError(
            f"charge {charge_key!r} has no price field {unknown[0]!r}",
            code="invalid_override",
            details={"unknown": unknown, "allowed": sorted(allowed)},
        )
    document = plan_document(plan)
    merged = [{**c, **fields} if c.get("key") == charge_key else c for c in document["charges"]]
    try:
        parsed = parse({"plans": [{**document, "charges": merged}]}).plans[0]
    except CatalogInvalid as exc:
        raise ValidationError(
            "the overwritten charge is not a valid charge",
            code="invalid_override",
            details={"issues": [str(i) for i in exc.issues][:20]},
        ) from None
    new = next(c for c in parsed.charges if c.key == charge_key)
    return {name: _field(new, name) for name in fields}


def _field(charge: Charge, name: str) -> Any:
    if isinstance(charge, FlatCharge):
        return getattr(charge, name)
    if isinstance(charge, UsageCharge):
        return getattr(charge.price, name)
    raise _not_priced(charge.key)


def _not_priced(charge_key: str) -> ValidationError:
    return ValidationError(
        f"charge {charge_key!r} has no price to override (only flat and usage charges)",
        code="invalid_override",
        details={"charge": charge_key},
    )


def _row(customer_id: str, override: ChargeOverride, now: datetime) -> PriceOverrideRow:
    data = override_to_json(override)
    return PriceOverrideRow(
        id=override.id,
        level=override.level.value,
        target=customer_id,
        charge=override.charge,
        kind=override.kind.value,
        multiplier=override.multiplier,
        price=data["fields"],
        valid_from=override.start,
        valid_to=override.end,
        created_at=now,
    )


def _from_row(row: PriceOverrideRow) -> ChargeOverride:
    return override_from_json(
        {
            "id": row.id,
            "level": row.level,
            "charge": row.charge,
            "kind": row.kind,
            "multiplier": None if row.multiplier is None else f"{row.multiplier:f}",
            "fields": row.price,
            "from": row.valid_from.isoformat(),
            "to": None if row.valid_to is None else row.valid_to.isoformat(),
        }
    )


def _not_found(override_id: str) -> NotFound:
    return NotFound(
        f"no override {override_id!r}",
        code="override_not_found",
        details={"override": override_id[:64]},
    )
