"""``POST /v1/customers/{id}/portal-sessions``: a link that logs one customer into the portal.

The answer's ``url`` opens the customer portal once (single use) before ``expires_at``
(``TALLYBOOK_PORTAL_LINK_MINUTES``), scoped to this tenant and customer; the link token
is stored only hashed (``services.portal_sessions.CustomerPortalService``). Hand the URL
to the customer (redirect them, or e-mail it), as Stripe's billing portal sessions and
Lago's ``portal_url`` do. The URL is built from the request's own base URL (behind a TLS
proxy, set ``TALLYBOOK_TRUSTED_PROXIES`` so it is https).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso

router = APIRouter(tags=["customer portal"])
ENTER_PATH = "/portal/enter"


@router.post(
    "/v1/customers/{customer_id}/portal-sessions",
    summary="A single-use, expiring link to the customer portal for this customer",
    status_code=201,
)
def create_portal_session(
    customer_id: str, request: Request, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    customer = container.previews.customer(tenant, customer_id)
    link = container.customer_portal.create_link(tenant, customer, request.state.key_id)
    base = str(request.base_url).rstrip("/")
    url = f"{base}{ENTER_PATH}?{urlencode({'token': link.token})}"
    return JsonResponse(
        {"customer": link.customer, "url": url, "expires_at": iso(link.expires_at)},
        status_code=201,
    )
