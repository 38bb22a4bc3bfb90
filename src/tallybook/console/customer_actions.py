"""Customer page actions beside "grant credits": set or remove the spend limit and change
a subscription's plan, each shown on a confirmation page first (POST with the session's
CSRF token; the second POST with ``confirm=yes`` acts), through the services the API uses
(``SpendLimitService``, ``SubscriptionService.change_plan``).

Double submits are safe: setting a spend limit replaces it (the same form twice stores
the same limit); a plan change carries the plan version it was previewed from, so a
repeated confirmation finds the subscription already on the target version and changes
nothing, and a subscription changed by someone else since the preview is refused (409).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.console import auditing, web
from tallybook.console.customers import LOCALE, customer_page, error_status
from tallybook.documents import formats
from tallybook.domain.errors import Conflict, TallybookError, ValidationError
from tallybook.domain.money import to_decimal
from tallybook.domain.subscriptions.model import AllowancePolicy, FeeProration

router = APIRouter(prefix="/console", include_in_schema=False)
MODES = ("soft", "hard")
ALLOWANCE_POLICIES = tuple(p.value for p in AllowancePolicy)
FEE_PRORATIONS = tuple(p.value for p in FeeProration)
MAX_VERSION = 1_000_000


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> str:
    chosen = (value or allowed[0]).strip()
    if chosen not in allowed:
        raise ValidationError(
            f"{field} must be one of {', '.join(allowed)}",
            code="invalid_field",
            details={"field": field, "allowed": list(allowed)},
        )
    return chosen


def _version(text: str | None, field: str = "version") -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise ValidationError(
            f"{field} must be a whole number from 1", code="invalid_field", details={"field": field}
        )
    return int(text)


@router.post("/customers/{customer_id:path}/spend-limit")
async def spend_limit(customer_id: str, request: Request, container: ContainerDep) -> Response:
    """Set (``amount``, ``mode`` soft/hard) or remove (``remove=yes``) the spend limit:
    the first POST shows a confirmation, the second (``confirm=yes``) acts and redirects
    to the customer page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    tenant = who.tenant_id
    try:
        customer = container.customers.get(tenant, customer_id)
        remove = fields.get("remove") == "yes"
        amount = None if remove else to_decimal(fields.get("amount", ""), field="amount")
        mode = _choice(fields.get("mode"), MODES, "mode")
        if fields.get("confirm") != "yes":
            return web.render(
                "spend_limit_confirm.html",
                request=request,
                container=container,
                who=who,
                active="customers",
                customer=customer,
                remove=remove,
                amount="" if amount is None else str(amount),
                shown="" if amount is None else formats.money(amount, customer.currency, LOCALE),
                mode=mode,
                current=container.spend_limits.status(tenant, customer.id).limit,
            )
        if remove:
            if container.spend_limits.status(tenant, customer.id).limit is not None:
                container.spend_limits.delete(tenant, customer.id)  # a repeat finds none
                auditing.action(
                    container, who, "console spend-limit delete", f"customers/{customer.id}"
                )
            done = "removed"
        else:
            assert amount is not None
            container.spend_limits.set(tenant, customer.id, amount, mode)
            auditing.action(
                container,
                who,
                "console spend-limit set",
                f"customers/{customer.id}",
                after={"amount": str(amount), "mode": mode},
            )
            done = "set"
    except TallybookError as error:
        return customer_page(
            request, container, who, customer_id, error=error.message, status=error_status(error)
        )
    return RedirectResponse(
        web.link(f"/console/customers/{customer.id}", spend=done), status_code=303
    )


def _change_args(fields: dict[str, str]) -> dict[str, Any]:
    plan = (fields.get("plan") or "").strip()
    if not plan or len(plan) > 255:
        raise ValidationError("choose a plan", code="invalid_field", details={"field": "plan"})
    return {
        "plan_key": plan,
        "version": _version(fields.get("version")),
        "allowance_policy": AllowancePolicy(
            _choice(fields.get("allowance_policy"), ALLOWANCE_POLICIES, "allowance_policy")
        ),
        "fee_proration": FeeProration(
            _choice(fields.get("fee_proration"), FEE_PRORATIONS, "fee_proration")
        ),
    }


def _preview(
    container: Container, tenant: str, customer_id: str, subscription_id: str, args: dict[str, Any]
) -> dict[str, Any]:
    """The plan change as it would be: the new subscription's plan and the upcoming
    invoice before and after (None outside a billing period)."""
    changed = container.subscriptions.preview_change_plan(tenant, subscription_id, **args)
    before = after = None
    try:
        before = container.previews.upcoming_invoice(tenant, customer_id)
        after = container.previews.upcoming_invoice(tenant, customer_id, replacing=changed)
    except TallybookError:
        before = after = None
    return {"changed": changed, "before": before, "after": after}


@router.post("/customers/{customer_id:path}/change-plan")
async def change_plan(customer_id: str, request: Request, container: ContainerDep) -> Response:
    """Change a subscription's plan (``subscription``, ``plan``, optional ``version``,
    ``allowance_policy``, ``fee_proration`` as ``POST /v1/subscriptions/{id}/change``
    takes them, from now): the first POST previews the upcoming invoice before and
    after, the second (``confirm=yes``, with ``from_plan``/``from_version`` of the
    preview) changes it and redirects to the customer page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    tenant = who.tenant_id
    try:
        customer = container.customers.get(tenant, customer_id)
        subscription_id = (fields.get("subscription") or "").strip()[:255]
        stored = container.subscriptions.get(tenant, subscription_id)
        if stored.subscription.customer != customer.id:
            raise ValidationError(
                "the subscription is not this customer's",
                code="invalid_field",
                details={"field": "subscription"},
            )
        args = _change_args(fields)
        now = container.clock.now()
        current = stored.subscription.phase_at(now).plan
        if fields.get("confirm") != "yes":
            target = container.catalog.get_plan(tenant, args["plan_key"], args["version"])
            return web.render(
                "change_plan_confirm.html",
                request=request,
                container=container,
                who=who,
                active="customers",
                customer=customer,
                subscription=stored.subscription,
                current=current,
                target=target,
                args=args,
                money=lambda v: formats.money(v, customer.currency, LOCALE),
                **_preview(container, tenant, customer.id, subscription_id, args),
            )
        target = container.catalog.get_plan(tenant, args["plan_key"], args["version"])
        if (current.key, current.version) != (target.key, target.version):
            previewed = (fields.get("from_plan"), _version(fields.get("from_version")))
            if previewed != (current.key, current.version):
                raise Conflict(
                    f"subscription {subscription_id!r} changed since the preview (now on "
                    f"{current.key} v{current.version}): preview the change again",
                    code="subscription_changed",
                    details={"subscription": subscription_id},
                )
            container.subscriptions.change_plan(tenant, subscription_id, **args)
            auditing.action(
                container,
                who,
                "console subscriptions change",
                f"subscriptions/{subscription_id}",
                after={"plan": target.key, "version": target.version},
            )
    except TallybookError as error:
        return customer_page(
            request, container, who, customer_id, error=error.message, status=error_status(error)
        )
    return RedirectResponse(
        web.link(f"/console/customers/{customer.id}", changed=subscription_id), status_code=303
    )
