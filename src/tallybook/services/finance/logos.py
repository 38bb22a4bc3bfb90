"""The seller's logo: upload (verified with Pillow), removal and lookup by hash.

``LogoService.upload`` checks the Content-Type (``image/png`` or ``image/jpeg``: anything
else is ``UnsupportedMediaType``, 415), the size (``PayloadTooLarge`` ``logo_too_large``,
413, above ``MAX_LOGO_BYTES``), then decodes the whole image with Pillow: bytes that are
not an image of the declared type, a truncated image, or one wider or taller than
``MAX_LOGO_SIDE`` pixels are ``ValidationError`` ``invalid_logo`` (422). The stored logo
is kept by hash (``domain.finance.logos``) and the seller profile points at it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

from PIL import Image, UnidentifiedImageError

from tallybook.domain.errors import NotFound, PayloadTooLarge, ValidationError
from tallybook.domain.finance.logos import (
    MAX_LOGO_BYTES,
    MAX_LOGO_SIDE,
    MEDIA_TYPES,
    Logo,
    digest,
)
from tallybook.domain.finance.parties import Seller
from tallybook.services.ports import LogoStore


class UnsupportedLogoType(ValidationError):
    """A logo sent with a Content-Type other than ``image/png`` or ``image/jpeg`` (415)."""


def verify_logo(data: bytes, content_type: str) -> Logo:
    """``data`` as a checked ``Logo``. Errors: ``UnsupportedLogoType``
    ``unsupported_media_type``; ``PayloadTooLarge`` ``logo_too_large``; ``ValidationError``
    ``invalid_logo`` (empty, not an image of that type, truncated, too many pixels)."""
    media = content_type.split(";")[0].strip().lower()
    expected = MEDIA_TYPES.get(media)
    if expected is None:
        raise UnsupportedLogoType(
            f"send the logo as image/png or image/jpeg, not {media[:100] or 'nothing'}",
            code="unsupported_media_type",
            details={"content_type": media[:100], "allowed": sorted(MEDIA_TYPES)},
        )
    if len(data) > MAX_LOGO_BYTES:
        raise PayloadTooLarge(
            f"a logo may have at most {MAX_LOGO_BYTES} bytes, this one has {len(data)}",
            code="logo_too_large",
            details={"max_bytes": MAX_LOGO_BYTES, "bytes": len(data)},
        )
    bad = ValidationError(
        f"the body is not a valid {expected} image", code="invalid_logo", details={}
    )
    if not data:
        raise bad
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE or not width or not height:
                    raise ValidationError(
                        f"a logo may be at most {MAX_LOGO_SIDE} x {MAX_LOGO_SIDE} pixels,"
                        f" this one is {width} x {height}",
                        code="invalid_logo",
                        details={"max_side": MAX_LOGO_SIDE, "width": width, "height": height},
                    )
                image.load()  # decodes every pixel: a truncated file fails here
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as error:
        raise ValidationError(
            f"the body is not a valid {expected} image", code="invalid_logo",
            details={"error": str(error)[:200]},
        ) from None  # fmt: skip
    return Logo(digest(data), media, width, height, data)


class LogoService:
    """Upload, remove and read the tenant's logo. ``seller_of`` and ``set_logo`` read and
    set the seller profile's ``logo`` hash (``InvoiceSettings``, wired in bootstrap)."""

    def __init__(
        self,
        store: LogoStore,
        seller_of: Callable[[str], Seller],
        set_logo: Callable[[str, str | None], None],
        now: Callable[[], Any],
    ):
        self._store = store
        self._seller_of = seller_of
        self._set_logo = set_logo
        self._now = now

    def upload(self, tenant_id: str, data: bytes, content_type: str) -> Logo:
        """Verify (``verify_logo``), store by hash (once) and make it the current logo."""
        logo = verify_logo(data, content_type)
        self._store.put_logo(tenant_id, logo, self._now())
        self._set_logo(tenant_id, logo.sha256)
        return logo

    def remove(self, tenant_id: str) -> Logo:
        """Stop printing a logo on new documents (the stored bytes stay for final ones).
        NotFound ``logo_not_found`` when there is none."""
        current = self.current(tenant_id)
        self._set_logo(tenant_id, None)
        return current

    def current(self, tenant_id: str) -> Logo:
        """The current logo. NotFound ``logo_not_found`` when none is set."""
        sha = self._seller_of(tenant_id).logo
        logo = self.get(tenant_id, sha) if sha else None
        if logo is None:
            raise NotFound("the tenant has no logo", code="logo_not_found")
        return logo

    def get(self, tenant_id: str, sha256: str) -> Logo | None:
        """A logo of the tenant by hash (current or kept for a final document)."""
        return self._store.get_logo(tenant_id, sha256)
