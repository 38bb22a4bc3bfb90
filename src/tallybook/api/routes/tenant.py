"""``/v1/tenant``: the calling tenant's billing settings (the grace period), its seller
profile (``seller``: printed on invoices and kept on each final one) and whether invoices
are e-mailed when final (``email_invoices``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import Strict
from tallybook.api.responses import JsonResponse
from tallybook.bootstrap import Container
from tallybook.services.tenants import MAX_GRACE_SECONDS

router = APIRouter(tags=["billing"])


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


class TenantSettingsIn(Strict):
    grace_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="how long a closed period's invoice stays draft",
    )
    seller: SellerIn | None = Field(
        None, description="the seller profile; replaces the stored one (null clears it)"
    )
    email_invoices: bool | None = Field(
        None, description="e-mail invoices (PDF) to the customer's billing_emails when final"
    )


def _tenant_json(tenant: str, container: Container) -> dict[str, Any]:
    settings = container.invoice_settings
    return {
        "id": tenant,
        "grace_seconds": container.tenants.grace_seconds(tenant),
        "seller": settings.seller(tenant).to_dict(),
        "email_invoices": settings.email_invoices(tenant),
    }


@router.patch(
    "/v1/tenant", summary="Tenant billing settings (grace period, seller, invoice e-mails)"
)
def patch_tenant(
    body: TenantSettingsIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    sent = body.model_fields_set
    if "grace_seconds" in sent and body.grace_seconds is not None:
        container.tenants.set_grace_seconds(tenant, body.grace_seconds)
    if "seller" in sent or "email_invoices" in sent:
        seller: Any = False
        if "seller" in sent:
            seller = None if body.seller is None else body.seller.model_dump(exclude_unset=True)
        container.invoice_settings.update(tenant, seller=seller, email_invoices=body.email_invoices)
    return JsonResponse(_tenant_json(tenant, container))


@router.get("/v1/tenant", summary="Tenant billing settings")
def get_tenant(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(_tenant_json(tenant, container))
