"""Content-Security-Policy pieces shared by the documents and the API's headers
(``api.security_headers``): the locked-down base, CSP hash sources and the policy of the
self-contained invoice page. Rules: MDN's CSP guide, CSP Level 2 hash sources."""

from __future__ import annotations

import base64
import hashlib

LOCKED = "base-uri 'none'; frame-ancestors 'none'"


def source_hash(text: str) -> str:
    """The CSP hash source of an inline ``<style>`` or ``<script>`` body: ``'sha256-...'``.

    The hash covers the exact characters between the tags (CSP Level 2, section 4.2.4).
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def invoice_csp(style: str, script: str) -> str:
    """The policy of a self-contained HTML page whose only inline style and script are
    ``style`` and ``script`` (the invoice page): everything else is refused."""
    return (
        f"default-src 'none'; style-src {source_hash(style)}; script-src {source_hash(script)}; "
        f"img-src 'self' data:; form-action 'self'; {LOCKED}"
    )
