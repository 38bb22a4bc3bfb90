"""Automatic credit top-up (CONTRACT.md Part 2, "Credits"): one rule per customer.

``PUT /v1/customers/{id}/credit-top-up`` ``{"threshold", "target"}`` creates or replaces
the rule and checks it at once (the answer's ``top_up`` is the grant bought then, or
null); ``GET`` reads it (``404 top_up_not_found`` when there is none); ``DELETE``
removes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.routes.credits import grant_json
from tallybook.domain.credits.ledger import Grant
from tallybook.domain.credits.top_up import TopUpRule

router = APIRouter(tags=["credits"])
PATH = "/v1/customers/{customer_id}/credit-top-up"


class TopUpIn(Strict):
    threshold: DecimalIn
    target: DecimalIn


def rule_json(rule: TopUpRule, bought: Grant | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": rule.customer,
        "currency": rule.currency,
        "threshold": rule.threshold,
        "target": rule.target,
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }
    body["top_up"] = None if bought is None else grant_json(bought, bought.amount)
    return body


@router.put(
    PATH,
    summary="Set the customer's automatic top-up: buy back to target when available <= threshold",
)
def put_top_up(
    customer_id: str, body: TopUpIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    threshold = decimal_field("threshold", body.threshold)
    target = decimal_field("target", body.target)
    assert threshold is not None and target is not None
    rule, bought = container.top_ups.put(tenant, customer_id, threshold, target)
    return JsonResponse(rule_json(rule, bought))


@router.get(PATH, summary="The customer's automatic top-up rule")
def get_top_up(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    rule = container.top_ups.get(tenant, customer_id)
    body = rule_json(rule)
    del body["top_up"]
    return JsonResponse(body)


@router.delete(PATH, summary="Remove the customer's automatic top-up rule")
def delete_top_up(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    container.top_ups.delete(tenant, customer_id)
    return JsonResponse({"customer": customer_id, "deleted": True})
