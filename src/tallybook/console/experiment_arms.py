"""Experiment arms: pricing experiments (``ExperimentService``, CONTRACT.md "Experiments
and analytics") with their per-arm results as ``GET /v1/experiments/{key}/results`` gives
them (customers assigned, converted, churned, MRR, ARPA; p-values of conversion and MRR),
and the actions: create, ramp the treatment share, stop -- each confirmed on a second page
(POST with the session's CSRF token).

Double submits are safe: the confirmation carries the start instant chosen at the first
POST, so the same experiment twice is the service's idempotent create; a repeated ramp to
the share it already has and a repeated stop change nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, web
from tallybook.documents import formats
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.domain.money import to_decimal
from tallybook.services.experiments import Results

router = APIRouter(prefix="/console", include_in_schema=False)
LOCALE = formats.DEFAULT_LOCALE
PER_PAGE = 10  # each experiment's results read its assignments: a short page
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
PATH = "/console/experiments/arms"


def _key(text: str | None) -> str:
    key = (text or "").strip()
    if not key or len(key) > 255 or not set(key) <= KEY_CHARS:
        raise ValidationError(
            "the key is 1-255 letters, digits, '_', '.' or '-'",
            code="invalid_field",
            details={"field": "key"},
        )
    return key


def _share(text: str | None) -> Decimal:
    return to_decimal((text or "").strip(), field="share")


def arm_rows(results: Results) -> list[dict[str, Any]]:
    """Both arms of ``results`` as display rows (money in the experiment's currency,
    conversion and churn as percentages of the arm's customers, one decimal)."""

    def pct(part: int, whole: int) -> str:
        return f"{Decimal(part * 100) / Decimal(whole):.1f} %" if whole else "n/a"

    rows = []
    for arm in (results.control, results.treatment):
        rows.append(
            {
                "arm": arm.arm.value,
                "plan": arm.plan,
                "customers": arm.customers,
                "converted": arm.converted,
                "conversion": pct(arm.converted, arm.customers),
                "churned": arm.churned,
                "churn": pct(arm.churned, arm.customers),
                "mrr": formats.money(arm.mrr, results.currency, LOCALE),
                "arpa": "n/a"
                if arm.arpa is None
                else formats.money(arm.arpa, results.currency, LOCALE),
            }
        )
    return rows


def _view(container: Container, tenant: str, after: str | None) -> dict[str, Any]:
    rows = container.experiments.page(tenant, limit=PER_PAGE + 1, after=after)
    shown = []
    for row in rows[:PER_PAGE]:
        try:
            results = container.experiments.results(tenant, row.key)
        except TallybookError as error:  # e.g. a plan of the experiment was removed
            shown.append({"row": row, "error": error.message})
            continue
        shown.append(
            {
                "row": row,
                "arms": arm_rows(results),
                "p_conversion": results.conversion_p_value,
                "p_mrr": results.mrr_p_value,
                "currency": results.currency,
            }
        )
    more = len(rows) > PER_PAGE
    return {
        "experiments": shown,
        "next_url": more and web.link(PATH, after=rows[PER_PAGE - 1].key),
        "first_url": after and PATH,
        "plans": container.catalog.list_plans(tenant),
    }


def _page(
    request: Request,
    container: Container,
    who: web.Operator,
    after: str | None = None,
    **extra: Any,
) -> Response:
    return web.render(
        "experiment_arms.html",
        request=request,
        container=container,
        who=who,
        active="experiments",
        **_view(container, who.tenant_id, after),
        **extra,
    )


@router.get("/experiments/arms")
def arms(
    request: Request,
    container: ContainerDep,
    after: Annotated[str | None, Query(max_length=255)] = None,
    done: Annotated[str | None, Query(max_length=20, pattern="^(created|ramped|stopped)$")] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return _page(request, container, who, after, done=done)


@router.get("/experiments/arms/{key}.csv")
def arms_csv(key: str, request: Request, container: ContainerDep) -> Response:
    """One experiment's arms as CSV (the columns of ``/v1/experiments/{key}/results.csv``)."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    try:
        results = container.experiments.results(who.tenant_id, _key(key))
    except TallybookError as error:
        return _page(request, container, who, error=error.message, status=status_for(error))
    header = ["arm", "plan", "customers", "converted", "churned", "mrr", "arpa", "currency"]
    rows = [
        [
            *(a.arm.value, a.plan, a.customers, a.converted, a.churned, a.mrr, a.arpa),
            *(results.currency, results.conversion_p_value, results.mrr_p_value),
        ]
        for a in (results.control, results.treatment)
    ]
    return web.csv_response(f"{key}-arms.csv", [*header, "conversion_p_value", "mrr_p_value"], rows)


def _confirm(request: Request, container: Container, who: web.Operator, **context: Any) -> Response:
    return web.render(
        "experiment_confirm.html",
        request=request,
        container=container,
        who=who,
        active="experiments",
        **context,
    )


@router.post("/experiments/arms")
async def act(request: Request, container: ContainerDep) -> Response:
    """``action`` create (``key``, ``control_plan``, ``treatment_plan``, ``share``), ramp
    (``key``, ``share``) or stop (``key``): the first POST shows a confirmation, the
    second (``confirm=yes``) acts and redirects to the arms page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    tenant = who.tenant_id
    action = fields.get("action", "")
    confirmed = fields.get("confirm") == "yes"
    try:
        key = _key(fields.get("key"))
        if action == "create":
            control = (fields.get("control_plan") or "").strip()[:255]
            treatment = (fields.get("treatment_plan") or "").strip()[:255]
            share = _share(fields.get("share"))
            start_text = fields.get("start") or container.clock.now().isoformat()
            try:
                start = datetime.fromisoformat(start_text)
            except ValueError:
                raise ValidationError(
                    "start is not an instant", code="invalid_field", details={"field": "start"}
                ) from None
            if not confirmed:
                container.catalog.get_plan(tenant, control)  # unknown plans: 404 now
                container.catalog.get_plan(tenant, treatment)
                return _confirm(
                    request,
                    container,
                    who,
                    action=action,
                    key=key,
                    control_plan=control,
                    treatment_plan=treatment,
                    share=str(share),
                    start=start.isoformat(),
                )
            container.experiments.create(tenant, key, control, treatment, share, start, None)
            auditing.action(
                container,
                who,
                "console experiments create",
                f"experiments/{key}",
                after={"control": control, "treatment": treatment, "share": str(share)},
            )
            done = "created"
        elif action == "ramp":
            share = _share(fields.get("share"))
            current = container.experiments.get(tenant, key)
            if not confirmed:
                return _confirm(
                    request,
                    container,
                    who,
                    action=action,
                    key=key,
                    share=str(share),
                    current=current,
                )
            if share != current.share:  # a repeated ramp to the same share: nothing to do
                container.experiments.ramp(tenant, key, share)
                auditing.action(
                    container,
                    who,
                    "console experiments ramp",
                    f"experiments/{key}",
                    {"share": str(share)},
                )
            done = "ramped"
        elif action == "stop":
            current = container.experiments.get(tenant, key)
            if not confirmed:
                return _confirm(request, container, who, action=action, key=key, current=current)
            if current.stopped_at is None:
                container.experiments.stop(tenant, key)
                auditing.action(container, who, "console experiments stop", f"experiments/{key}")
            done = "stopped"
        else:
            raise ValidationError(
                "action must be create, ramp or stop",
                code="invalid_field",
                details={"field": "action"},
            )
    except TallybookError as error:
        return _page(request, container, who, error=error.message, status=status_for(error))
    return RedirectResponse(web.link(PATH, done=done), status_code=303)
