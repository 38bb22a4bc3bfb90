"""``/v1/subscriptions``: create, read, change plan, set seats, cancel, add discounts."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import (
    CURSOR_HELP,
    DecimalIn,
    IdIn,
    InstantIn,
    Strict,
    decimal_field,
    instant_field,
)
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.routes.commitments import CommitmentIn
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    CancelMode,
    DiscountKind,
    FeeProration,
)
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.subscriptions import DiscountSpec

router = APIRouter(tags=["subscriptions"])
Quantities = Annotated[
    dict[Annotated[str, Field(max_length=255)], DecimalIn], Field(max_length=100)
]


class DiscountIn(Strict):
    type: DiscountKind = Field(examples=["percent"])
    percent: DecimalIn | None = Field(None, description="percent discounts: 0-100")
    amount: DecimalIn | None = Field(None, description="fixed discounts: per period")
    periods: int | None = Field(
        None, ge=1, le=10_000, description="billing periods; null: for ever"
    )
    description: str | None = Field(None, max_length=255)
    start: InstantIn | None = None

    def spec(self) -> DiscountSpec:
        raw = self.percent if self.type is DiscountKind.PERCENT else self.amount
        name = "percent" if self.type is DiscountKind.PERCENT else "amount"
        value = decimal_field(name, raw)
        if value is None:
            from tallybook.domain.errors import ValidationError

            raise ValidationError(
                f"a {self.type.value} discount needs {name}", code="invalid_discount"
            )
        return DiscountSpec(
            self.type, value, self.periods, self.description, instant_field("start", self.start)
        )


class SubscriptionIn(Strict):
    customer: IdIn
    plan: IdIn
    version: int | None = Field(None, ge=1, description="plan version; default: the latest")
    start: InstantIn | None = Field(None, description="default: now; may be in the past")
    quantities: Quantities | None = None
    trial_days: int | None = Field(None, ge=0, le=3650, description="default: the plan's")
    discounts: list[DiscountIn] = Field(default_factory=list, max_length=20)
    commitment: CommitmentIn | None = None


class ChangeIn(Strict):
    plan: IdIn
    version: int | None = Field(None, ge=1)
    migrate: bool = Field(False, description="same plan key: move to its latest version")
    at: InstantIn | None = None
    allowance_policy: AllowancePolicy = AllowancePolicy.PRORATE
    fee_proration: FeeProration = FeeProration.PRORATE


class QuantitiesIn(Strict):
    quantities: Quantities
    at: InstantIn | None = None
    fee_proration: FeeProration = FeeProration.PRORATE


class CancelIn(Strict):
    at: InstantIn | None = None
    mode: CancelMode = CancelMode.END_OF_PERIOD


def _quantities(raw: dict[str, Any] | None) -> dict[str, Any]:
    return {k: decimal_field(f"quantities.{k}", v) for k, v in (raw or {}).items()}


def subscription_json(stored: StoredSubscription, now: Any) -> dict[str, Any]:
    sub = stored.subscription
    period = sub.period_at(now)
    return {
        "id": sub.id,
        "customer": sub.customer,
        "bill_to": stored.account,
        "plan": sub.plan.key,
        "plan_version": sub.plan.version,
        "status": sub.status(now).value,
        "currency": sub.currency,
        "start": iso(sub.start),
        "trial_end": iso(sub.trial_end),
        "end": iso(sub.end),
        "cancel_mode": None if sub.cancel_mode is None else sub.cancel_mode.value,
        "canceled_at": iso(sub.canceled_at),
        "current_period_start": iso(period.start) if period else None,
        "current_period_end": iso(period.end) if period else None,
        "quantities": {k: v for k, v in sub.quantities_at(now).items()},
        "interval": sub.cycle_at(now)[0].value,
        "billing_anchor": sub.cycle_at(now)[1].value,
        "cycle_changes": [
            {"at": iso(c.at), "interval": c.interval.value, "billing_anchor": c.anchor.value}
            for c in sub.cycles
        ],
        "phases": [
            {
                "plan": p.plan.key,
                "version": p.plan.version,
                "start": iso(p.start),
                "allowance_policy": p.allowance_policy.value,
                "fee_proration": p.fee_proration.value,
            }
            for p in sub.phases
        ],
        "quantity_changes": [
            {
                "at": iso(q.at),
                "quantities": dict(q.quantities),
                "fee_proration": q.fee_proration.value,
            }
            for q in sub.quantities
        ],
        "discounts": [
            {
                "id": d.id,
                "type": d.kind.value,
                "percent" if d.kind is DiscountKind.PERCENT else "amount": d.value,
                "periods": d.periods,
                "start": iso(d.start),
                "description": d.description,
            }
            for d in sub.discounts
        ],
        "billed_through": iso(stored.billed_through),
        "next_invoice_at": iso(stored.next_issue_at),
        "created_at": iso(stored.created_at),
    }


def _respond(
    stored: StoredSubscription, container: ContainerDep, status: int = 200
) -> JsonResponse:
    return JsonResponse(subscription_json(stored, container.clock.now()), status_code=status)


@router.post("/v1/subscriptions", summary="Subscribe a customer to a plan", status_code=201)
def create_subscription(
    body: SubscriptionIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    term = None
    if body.commitment is not None:  # checked before anything is stored
        customer = container.customers.get(tenant, body.customer)
        start = instant_field("start", body.start) or container.clock.now()
        term = container.commitments.build(
            body.commitment.spec(),
            subscription="",
            account=customer.account,
            currency=customer.currency,
            start=start,
        )
    stored = container.subscriptions.create(
        tenant,
        body.customer,
        body.plan,
        start=instant_field("start", body.start),
        version=body.version,
        quantities=_quantities(body.quantities),
        trial_days=body.trial_days,
        discounts=[d.spec() for d in body.discounts],
    )
    if term is not None:
        container.commitments.attach(
            tenant, replace(term, subscription=stored.subscription.id, account=stored.account)
        )
    return _respond(stored, container, 201)


@router.get("/v1/subscriptions", summary="Subscriptions, by id (cursor pagination)")
def list_subscriptions(
    tenant: TenantDep,
    container: ContainerDep,
    customer: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.subscriptions.list(tenant, customer=customer, limit=limit, cursor=cursor)
    now = container.clock.now()
    data = [subscription_json(s, now) for s in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


@router.get("/v1/subscriptions/{subscription_id}", summary="A subscription")
def get_subscription(
    subscription_id: str, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return _respond(container.subscriptions.get(tenant, subscription_id), container)


@router.post(
    "/v1/subscriptions/{subscription_id}/change", summary="Change plan (or migrate version)"
)
def change_plan(
    subscription_id: str, body: ChangeIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    stored = container.subscriptions.change_plan(
        tenant,
        subscription_id,
        body.plan,
        at=instant_field("at", body.at),
        version=body.version,
        allowance_policy=body.allowance_policy,
        fee_proration=body.fee_proration,
    )
    return _respond(stored, container)


@router.post(
    "/v1/subscriptions/{subscription_id}/quantities", summary="Set licensed quantities (seats)"
)
def set_quantities(
    subscription_id: str, body: QuantitiesIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    stored = container.subscriptions.set_quantities(
        tenant,
        subscription_id,
        _quantities(body.quantities),
        at=instant_field("at", body.at),
        fee_proration=body.fee_proration,
    )
    return _respond(stored, container)


@router.post("/v1/subscriptions/{subscription_id}/cancel", summary="Cancel now or at period end")
def cancel(
    subscription_id: str, body: CancelIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    stored = container.subscriptions.cancel(
        tenant, subscription_id, at=instant_field("at", body.at), mode=body.mode
    )
    return _respond(stored, container)


@router.post("/v1/subscriptions/{subscription_id}/discounts", summary="Add a discount")
def add_discount(
    subscription_id: str, body: DiscountIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    stored = container.subscriptions.add_discount(tenant, subscription_id, body.spec())
    return _respond(stored, container)
