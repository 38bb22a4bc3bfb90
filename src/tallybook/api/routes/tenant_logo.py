"""``/v1/tenant/logo``: the seller's logo printed on invoices and credit notes (issue 16).

``PUT`` with the image as the body (``Content-Type: image/png`` or ``image/jpeg``, at most
256 KiB and 2,000 pixels a side; decoded with Pillow before it is stored) answers the
logo's description (``sha256``, ``content_type``, ``width``, ``height``, ``bytes``).
Errors: ``415 unsupported_media_type`` (another type), ``413 logo_too_large``, ``422
invalid_logo`` (not an image of that type, truncated, too many pixels). ``GET`` serves
the current image, ``DELETE`` stops printing it on new documents (``404 logo_not_found``
without one). Final invoices keep the logo they were finalized with: logos are stored by
hash and never deleted (``domain.finance.logos``). Roles: ``PUT``/``DELETE`` like the rest
of the tenant settings, admin only (``api.access``: not listed, so admin-only); ``GET``
the viewers'.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.errors import HttpError
from tallybook.api.responses import JsonResponse
from tallybook.domain.finance.logos import MAX_LOGO_BYTES, MEDIA_TYPES
from tallybook.services.finance.logos import UnsupportedLogoType

router = APIRouter(tags=["billing"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": f"the image, PNG or JPEG, at most {MAX_LOGO_BYTES} bytes",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES
        },
    }
}
_LOGO_ANSWER = {
    "description": "the stored logo",
    "content": {
        "application/json": {
            "example": {
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "content_type": "image/png",
                "width": 400,
                "height": 120,
                "bytes": 5120,
            }
        }
    },
}


@router.put(
    "/v1/tenant/logo",
    summary="Upload the seller's logo (PNG or JPEG), printed on invoices and credit notes",
    openapi_extra=_BODY,
    responses={
        200: _LOGO_ANSWER,
        413: {"description": "logo_too_large"},
        415: {"description": "unsupported_media_type"},
        422: {"description": "invalid_logo"},
    },
)
async def put_logo(request: Request, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    media = request.headers.get("content-type", "")
    before = await run_in_threadpool(_current, container, tenant)
    request.state.audit_before = before
    data = await request.body()
    try:
        logo = await run_in_threadpool(container.logos.upload, tenant, data, media)
    except UnsupportedLogoType as error:
        raise HttpError(415, error.code, error.message, error.details) from None
    return JsonResponse(logo.to_dict())


@router.get(
    "/v1/tenant/logo",
    summary="The seller's current logo (the image)",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES}},
        404: {"description": "logo_not_found"},
    },
)
def get_logo(tenant: TenantDep, container: ContainerDep) -> Response:
    logo = container.logos.current(tenant)
    return Response(
        logo.data,
        media_type=logo.content_type,
        headers={"Cache-Control": "private, no-store", "ETag": f'"{logo.sha256}"'},
    )


@router.delete(
    "/v1/tenant/logo",
    summary="Stop printing a logo on new invoices (final ones keep theirs)",
    responses={200: _LOGO_ANSWER, 404: {"description": "logo_not_found"}},
)
def delete_logo(request: Request, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    logo = container.logos.remove(tenant)
    request.state.audit_before = logo.to_dict()
    return JsonResponse({**logo.to_dict(), "deleted": True})


def _current(container: ContainerDep, tenant: str) -> dict[str, object] | None:
    sha = container.invoice_settings.seller(tenant).logo
    logo = container.invoice_settings.logo(tenant, sha)
    return None if logo is None else logo.to_dict()
