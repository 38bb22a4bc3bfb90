"""The seller's logo printed on invoices and credit notes (issue 16): limits and shape.

A logo is uploaded as image bytes (``PUT /v1/tenant/logo``), stored in the database keyed
by its SHA-256 and never changed or deleted: the seller profile names the current one
(``Seller.logo``, the hash) and each final invoice's parties snapshot names the one it was
finalized with, so a later upload or removal never changes a final document. Nothing is
ever fetched from the network (``logo_url`` is only shown as a link on the HTML page).

Limits: PNG or JPEG only, at most ``MAX_LOGO_BYTES`` (256 KiB) and ``MAX_LOGO_SIDE`` pixels
(2,000) on either side; the image is decoded in full (``services.finance.logos``) so a
truncated or disguised file is refused before it is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_LOGO_BYTES = 256 * 1024
MAX_LOGO_SIDE = 2000
MEDIA_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}  # Content-Type -> Pillow format


@dataclass(frozen=True, slots=True)
class Logo:
    """A verified logo: ``sha256`` (hex of ``data``), ``content_type`` (``image/png`` or
    ``image/jpeg``), ``width`` and ``height`` in pixels, ``data`` the bytes as uploaded."""

    sha256: str
    content_type: str
    width: int
    height: int
    data: bytes

    def to_dict(self) -> dict[str, object]:
        """The logo's description as the API shows it (without the bytes)."""
        return {
            "sha256": self.sha256,
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "bytes": len(self.data),
        }


def digest(data: bytes) -> str:
    """The hex SHA-256 of ``data``: a logo's key."""
    return hashlib.sha256(data).hexdigest()
