"""``/v1/tenant``: the calling tenant's settings: the grace period, governance
(``require_approval`` and the price-change guard rails, ``services.governance``), its
seller profile (``seller``: printed on invoices and kept on each final one) and whether
invoices are e-mailed when final (``email_invoices``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse
from tallybook.bootstrap import Container
from tallybook.domain.governance.changes import GuardRails
from tallybook.services.tenants import MAX_GRACE_SECONDS

router = APIRouter(tags=["billing"])


class GuardRailsIn(Strict):
    max_increase_pct: DecimalIn | None = Field(None, description="largest price increase, %")
    max_decrease_pct: DecimalIn | None = Field(None, description="largest price decrease, %")
    min_notice_days: Annotated[int | None, Field(None, ge=0, le=3650)] = None


class AddressIn(Strict):
    line1: str | None = Field(None, max_length=255)
    line2: str | None = Field(None, max_length=255)
    city: str | None = Field(None, max_length=255)
    postal_code: str | None = Field(None, max_length=255)
    region: str | None = Field(None, max_length=255)
    country: str | None = Field(None, max_length=2, examples=["DE"])


class SellerIn(Strict):
    legal_name: str | None = Field(None, max_length=255)
    address: AddressIn | None = None
    tax_id: str | None = Field(None, max_length=64, examples=["DE123456789"])
    email: str | None = Field(None, max_length=320)
    logo_url: str | None = Field(None, max_length=2048)
    footer: str | None = Field(None, max_length=1000)
    invoice_prefix: str | None = Field(
        None, max_length=20, examples=["ACME-2026-"], description="default INV-"
    )
    credit_note_prefix: str | None = Field(
        None, max_length=20, examples=["ACME-CN-"], description="default CN-"
    )
    logo: str | None = Field(
        None,
        max_length=64,
        description="read-only (the SHA-256 of the logo PUT /v1/tenant/logo stored): ignored",
    )


class TenantSettingsIn(Strict):
    grace_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="how long a closed period's invoice stays draft",
    )
    require_approval: bool | None = Field(
        None, description="direct price edits are refused (409 approval_required)"
    )
    guard_rails: GuardRailsIn | None = Field(
        None, description="checks of catalog changes (null fields: no limit); replaces all"
    )
    seller: SellerIn | None = Field(
        None, description="the seller profile; replaces the stored one (null clears it)"
    )
    email_invoices: bool | None = Field(
        None, description="e-mail invoices (PDF) to the customer's billing_emails when final"
    )


def _settings(container: Container, tenant: str) -> dict[str, Any]:
    rails = container.governance.guard_rails(tenant)
    invoicing = container.invoice_settings
    return {
        "id": tenant,
        "grace_seconds": container.tenants.grace_seconds(tenant),
        "require_approval": rails.require_approval,
        "guard_rails": {
            "max_increase_pct": _text(rails.max_increase_pct),
            "max_decrease_pct": _text(rails.max_decrease_pct),
            "min_notice_days": rails.min_notice_days,
        },
        "seller": invoicing.seller(tenant).to_dict(),
        "email_invoices": invoicing.email_invoices(tenant),
    }


def _text(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


@router.patch(
    "/v1/tenant",
    summary="Tenant settings (grace period, governance, seller, invoice e-mails)",
)
def patch_tenant(
    body: TenantSettingsIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    sent = body.model_fields_set
    if body.grace_seconds is not None:
        container.tenants.set_grace_seconds(tenant, body.grace_seconds)
    if body.require_approval is not None or body.guard_rails is not None:
        rails = container.governance.guard_rails(tenant)
        if body.require_approval is not None:
            rails = replace(rails, require_approval=body.require_approval)
        if body.guard_rails is not None:
            given = body.guard_rails
            rails = GuardRails(
                require_approval=rails.require_approval,
                max_increase_pct=decimal_field("max_increase_pct", given.max_increase_pct),
                max_decrease_pct=decimal_field("max_decrease_pct", given.max_decrease_pct),
                min_notice_days=given.min_notice_days,
            )
        container.governance.set_guard_rails(tenant, rails)
    if "seller" in sent or "email_invoices" in sent:
        seller: Any = False
        if "seller" in sent:
            seller = None if body.seller is None else body.seller.model_dump(exclude_unset=True)
        container.invoice_settings.update(tenant, seller=seller, email_invoices=body.email_invoices)
    return JsonResponse(_settings(container, tenant))


@router.get("/v1/tenant", summary="Tenant settings")
def get_tenant(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(_settings(container, tenant))
