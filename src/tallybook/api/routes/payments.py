"""Stripe: ``POST /v1/providers/stripe/webhook`` (signed by Stripe, no API key) and
reconciliation runs ``/v1/reconciliation-runs`` (CONTRACT.md Part 2, "Payment provider").

A run is computed while the request waits (listing the provider's invoices of the
window) and answers ``201`` with its figures and first page of rows; ``GET`` pages the
rows (``rows_limit`` <= 1000, ``rows_cursor``), ``.csv`` gives them all. Runs through the API are
read-only; ``tallybook reconcile stripe --fix`` repairs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.errors import error_response
from tallybook.api.requests import InstantIn, Strict, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.tabular import csv_response, decode_cursor, encode_cursor, page_limit
from tallybook.bootstrap import Container
from tallybook.domain.errors import NotFound, ProviderUnavailable, ValidationError
from tallybook.services.ports import (
    ProviderError,
    ReconciliationRow,
    ReconciliationRun,
    SignatureInvalid,
)
from tallybook.services.sync import Payments
from tallybook.services.sync.reconcile import drift_amount

router = APIRouter(tags=["payments"])
MAX_WEBHOOK_BYTES = 1024 * 1024
ROW_FIELDS = (
    "invoice",
    "number",
    "currency",
    "local_total",
    "local_status",
    "remote_id",
    "remote_total",
    "remote_status",
    "category",
    "drift",
    "action",
    "applied",
    "error",
)


def _payments(container: Container) -> Payments:
    if container.payments is None:
        raise NotFound(
            "Stripe is not configured on this server (TALLYBOOK_STRIPE_API_KEY)",
            code="provider_not_configured",
            details={"provider": "stripe"},
        )
    return container.payments


@router.post(
    "/v1/providers/stripe/webhook",
    summary="Stripe events (Stripe-Signature checked; invoice.paid marks the invoice paid)",
)
async def stripe_webhook(request: Request, container: ContainerDep) -> Response:
    payments = _payments(container)
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return error_response(413, "payload_too_large", "event body over 1 MiB")
    signature = request.headers.get("stripe-signature")
    try:
        outcome = await run_in_threadpool(payments.webhooks.handle, body, signature)
    except SignatureInvalid as exc:
        return error_response(
            400,
            "invalid_signature",
            "the Stripe-Signature header does not verify this body",
            {"reason": str(exc)[:200]},
        )
    if outcome.outcome == "marked_paid" and outcome.tenant and outcome.invoice:
        # the audit hook records the status change with Stripe as the actor
        request.state.tenant = outcome.tenant
        request.state.key_name = "stripe"
        request.state.key_id = "provider:stripe"
        request.state.audit_object = f"invoices/{outcome.invoice}"
        request.state.audit_reason = f"Stripe event {outcome.event} ({outcome.type})"
    return JsonResponse(
        {
            "received": True,
            "event": outcome.event,
            "type": outcome.type,
            "duplicate": outcome.duplicate,
            "outcome": outcome.outcome,
        }
    )


class RunIn(Strict):
    provider: Literal["stripe"] = "stripe"
    from_: InstantIn = Field(alias="from")
    to: InstantIn


def row_json(row: ReconciliationRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ROW_FIELDS}


def run_json(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "provider": run.provider,
        "status": run.status,
        "progress": Decimal("100.00"),
        "from": iso(run.start),
        "to": iso(run.end),
        "fix": run.fix,
        "trigger": run.trigger,
        "checked": run.checked,
        "ok": run.ok,
        "counts": run.counts,
        "drift_amount": drift_amount(run),
        "drift_amounts": dict(sorted(run.drift.items())),
        "created_at": iso(run.created_at),
    }


def _with_rows(
    container: Container, tenant: str, run: ReconciliationRun, limit: int, after: int | None
) -> dict[str, Any]:
    rows = _payments(container).reconciliation.rows(tenant, run.id, after=after, limit=limit)
    more = len(rows) == limit
    data = run_json(run)
    data["rows"] = [row_json(row) for _, row in rows]
    data["rows_next_cursor"] = encode_cursor(str(rows[-1][0])) if more and rows else None
    return data


@router.post(
    "/v1/reconciliation-runs",
    summary="Compare a window's final invoices with Stripe (read-only)",
    status_code=201,
)
def create_run(body: RunIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    payments = _payments(container)
    start = instant_field("from", body.from_)
    end = instant_field("to", body.to)
    assert start is not None and end is not None
    try:
        run = payments.reconciliation.run(tenant, start, end)
    except ProviderError as exc:
        raise ProviderUnavailable(f"Stripe: {exc.code}: {exc.message}") from None
    return JsonResponse(_with_rows(container, tenant, run, 1000, None), status_code=201)


@router.get("/v1/reconciliation-runs", summary="Reconciliation runs, oldest first (paginated)")
def list_runs(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JsonResponse:
    limit = page_limit(limit)
    after = decode_cursor(cursor)
    if container.payments is None:  # no provider: no runs (an empty list, not an error)
        return JsonResponse({"data": [], "has_more": False, "next_cursor": None})
    runs = container.payments.reconciliation.store.page(tenant, limit=limit, after=after)
    more = len(runs) == limit
    return JsonResponse(
        {
            "data": [run_json(run) for run in runs],
            "has_more": more,
            "next_cursor": encode_cursor(runs[-1].id) if more and runs else None,
        }
    )


@router.get("/v1/reconciliation-runs/{run_id}.csv", summary="A run's rows as CSV")
def get_run_csv(run_id: str, tenant: TenantDep, container: ContainerDep) -> Response:
    rows = _payments(container).reconciliation.rows(tenant, run_id)
    body = ([getattr(row, name) for name in ROW_FIELDS] for _, row in rows)
    return csv_response(ROW_FIELDS, body, f"{run_id}.csv")


@router.get("/v1/reconciliation-runs/{run_id}", summary="A run: figures and a page of rows")
def get_run(
    run_id: str,
    tenant: TenantDep,
    container: ContainerDep,
    rows_limit: Annotated[int, Query(description="rows per page, 1-1000")] = 1000,
    rows_cursor: Annotated[
        str | None, Query(max_length=200, description="rows_next_cursor of the last page")
    ] = None,
) -> JsonResponse:
    limit = page_limit(rows_limit)
    after = None
    key = decode_cursor(rows_cursor)
    if key is not None:
        if not key.isdigit():
            raise ValidationError("cursor is not valid", code="invalid_cursor")
        after = int(key)
    run = _payments(container).reconciliation.get(tenant, run_id)
    return JsonResponse(_with_rows(container, tenant, run, limit, after))
