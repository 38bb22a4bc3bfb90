"""Price overrides: ``/v1/subscriptions/{id}/overrides`` and ``/v1/customers/{id}/overrides``.

Rules live in ``tallybook.services.overrides`` and ``tallybook.domain.governance.overrides``:
a multiplier follows list-price changes, an overwrite does not; subscription beats
customer beats plan; overlapping overrides of one charge at one level are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, InstantIn, Strict, decimal_field, instant_field
from tallybook.api.responses import JsonResponse
from tallybook.domain.governance.overrides import ChargeOverride, OverrideKind, override_to_json
from tallybook.services.overrides import OverrideSpec

router = APIRouter(tags=["governance"])

Id = Annotated[str, Path(max_length=255)]
OverrideId = Annotated[str, Path(max_length=64)]


class TierIn(Strict):
    up_to: DecimalIn | None = None
    unit_amount: DecimalIn | None = None
    flat_amount: DecimalIn | None = None


class OverrideIn(Strict):
    charge: str = Field(min_length=1, max_length=255)
    kind: Literal["multiplier", "overwrite"]
    multiplier: DecimalIn | None = Field(None, examples=["0.9"])
    start: InstantIn | None = Field(None, alias="from", description="default: now")
    end: InstantIn | None = Field(None, alias="to", description="default: open-ended")
    amount: DecimalIn | None = None
    unit_amount: DecimalIn | None = None
    tiers: Annotated[list[TierIn] | None, Field(None, max_length=100)] = None
    package_size: DecimalIn | None = None
    package_amount: DecimalIn | None = None
    rate: DecimalIn | None = None
    fixed_amount: DecimalIn | None = None
    min_per_event: DecimalIn | None = None
    max_per_event: DecimalIn | None = None


PRICE_NAMES = (
    "amount",
    "unit_amount",
    "package_size",
    "package_amount",
    "rate",
    "fixed_amount",
    "min_per_event",
    "max_per_event",
)


def _spec(body: OverrideIn) -> OverrideSpec:
    fields: dict[str, Any] = {}
    for name in PRICE_NAMES:
        value = decimal_field(name, getattr(body, name))
        if value is not None:
            fields[name] = f"{value:f}"
    if body.tiers is not None:
        fields["tiers"] = [t.model_dump(exclude_none=True) for t in body.tiers]
    return OverrideSpec(
        charge=body.charge,
        kind=OverrideKind(body.kind),
        start=instant_field("from", body.start),
        end=instant_field("to", body.end),
        multiplier=decimal_field("multiplier", body.multiplier),
        fields=fields or None,
    )


def override_json(item: ChargeOverride, owner: str, owner_id: str) -> dict[str, Any]:
    """An override as shown; ``owner`` names the path's resource ("subscription",
    "customer"); ``level`` says where the override was set."""
    data = override_to_json(item)
    shown = {
        "id": data["id"],
        "level": data["level"],
        owner: owner_id,
        "charge": data["charge"],
        "kind": data["kind"],
        "multiplier": data["multiplier"],
        "from": _z(item.start.isoformat()),
        "to": None if item.end is None else _z(item.end.isoformat()),
    }
    shown.update(data["fields"] or {})
    return shown


def _z(text: str) -> str:
    return text.replace("+00:00", "Z")


@router.post(
    "/v1/subscriptions/{subscription_id}/overrides",
    summary="Override one charge's price for a subscription",
    status_code=201,
)
def add_subscription_override(
    subscription_id: Id, body: OverrideIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    item = container.overrides.add_to_subscription(tenant, subscription_id, _spec(body))
    return JsonResponse(override_json(item, "subscription", subscription_id), status_code=201)


@router.get(
    "/v1/subscriptions/{subscription_id}/overrides",
    summary="A subscription's overrides (its own and its customer's)",
)
def list_subscription_overrides(
    subscription_id: Id, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    items = container.overrides.of_subscription(tenant, subscription_id)
    data = [override_json(o, "subscription", subscription_id) for o in items]
    return JsonResponse({"data": data, "next_cursor": None})


@router.delete(
    "/v1/subscriptions/{subscription_id}/overrides/{override_id}",
    summary="End a subscription's override now (remove it if not started)",
)
def end_subscription_override(
    subscription_id: Id, override_id: OverrideId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    item = container.overrides.end_on_subscription(tenant, subscription_id, override_id)
    return JsonResponse(override_json(item, "subscription", subscription_id))


@router.post(
    "/v1/customers/{customer_id}/overrides",
    summary="Override one charge's price for every subscription of a customer",
    status_code=201,
)
def add_customer_override(
    customer_id: Id, body: OverrideIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    item = container.overrides.add_to_customer(tenant, customer_id, _spec(body))
    return JsonResponse(override_json(item, "customer", customer_id), status_code=201)


@router.get("/v1/customers/{customer_id}/overrides", summary="A customer's overrides")
def list_customer_overrides(
    customer_id: Id, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    items = container.overrides.of_customer(tenant, customer_id)
    return JsonResponse(
        {"data": [override_json(o, "customer", customer_id) for o in items], "next_cursor": None}
    )


@router.delete(
    "/v1/customers/{customer_id}/overrides/{override_id}",
    summary="End a customer's override now on all its subscriptions",
)
def end_customer_override(
    customer_id: Id, override_id: OverrideId, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    container.overrides.end_on_customer(tenant, customer_id, override_id)
    return JsonResponse({"id": override_id, "customer": customer_id, "ended": True})
