"""Commitments on subscriptions (CONTRACT.md Part 2): ``POST /v1/subscriptions`` takes a
``commitment`` (``CommitmentIn``); ``POST /v1/subscriptions/{id}/commitment`` adds a term
and ``GET /v1/subscriptions/{id}/commitment`` reports the current (or last) one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, InstantIn, Strict, decimal_field, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.credits.commitments import Commitment
from tallybook.services.commitments import CommitmentSpec, CommitmentStatus

router = APIRouter(tags=["commitments"])


class CommitmentIn(Strict):
    kind: str = Field(max_length=16, examples=["prepaid", "postpaid"])
    amount: DecimalIn
    term_end: InstantIn
    term_start: InstantIn | None = Field(None, description="default: the subscription's start")
    applies_to: str | dict[str, list[Annotated[str, Field(max_length=255)]]] | None = None
    rollover_fraction: DecimalIn = "0"
    renew: bool = False

    def spec(self) -> CommitmentSpec:
        amount = decimal_field("commitment.amount", self.amount)
        fraction = decimal_field("commitment.rollover_fraction", self.rollover_fraction)
        term_end = instant_field("commitment.term_end", self.term_end)
        assert amount is not None and fraction is not None and term_end is not None
        return CommitmentSpec(
            kind=self.kind,
            amount=amount,
            term_end=term_end,
            term_start=instant_field("commitment.term_start", self.term_start),
            applies_to=self.applies_to,
            rollover_fraction=fraction,
            renew=self.renew,
        )


def term_json(term: Commitment) -> dict[str, Any]:
    return {
        "id": term.id,
        "subscription": term.subscription,
        "kind": term.kind.value,
        "amount": term.amount,
        "currency": term.currency,
        "term_start": iso(term.term_start),
        "term_end": iso(term.term_end),
        "applies_to": term.applies_to.to_json(),
        "rollover_fraction": term.rollover_fraction,
        "renew": term.renew,
    }


def status_json(status: CommitmentStatus) -> dict[str, Any]:
    body = term_json(status.term)
    body.update(
        drawn=status.drawn,
        remaining=status.remaining,
        billed_in_term=status.billed_in_term,
        projected_true_up=status.projected_true_up,
        rolled_over=status.rolled_over,
    )
    return body


@router.post(
    "/v1/subscriptions/{subscription_id}/commitment",
    summary="Add a commitment term to a subscription",
    status_code=201,
)
def add_commitment(
    subscription_id: str, body: CommitmentIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    term = container.commitments.attach_spec(tenant, subscription_id, body.spec())
    return JsonResponse(term_json(term), status_code=201)


@router.get(
    "/v1/subscriptions/{subscription_id}/commitment",
    summary="The subscription's current commitment term (or the last one) and what it drew",
)
def get_commitment(
    subscription_id: str, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return JsonResponse(status_json(container.commitments.status(tenant, subscription_id)))
