"""Portal logins as server-side sessions: the browser holds a random token, never a key.

Logging in with an API key opens a session: a token of 32 random bytes (``tbs_`` +
urlsafe base64) goes into the browser's cookie, and only its SHA-256 is stored (as for
API keys, enough for a high-entropy secret). A session lasts ``ttl`` (setting
``TALLYBOOK_PORTAL_SESSION_HOURS``), ends at logout, and ends when the key it was opened
with is revoked. ``csrf_token`` derives the token a logged-in form must send back: it
can only be computed from the session token, which the browser keeps ``HttpOnly``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tallybook.domain.errors import Unauthorized
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.ports import (
    Clock,
    CustomerPortalStore,
    KeyIdentity,
    PortalSessionStore,
)
from tallybook.services.tenants import hash_key

SESSION_PREFIX = "tbs_"
LINK_PREFIX = "tbl_"
MAX_TOKEN_CHARS = 100


class PortalSessionService:
    """Open, check and end portal sessions (``tallybook.api.auth`` is the HTTP side)."""

    def __init__(self, store: PortalSessionStore, clock: Clock, ttl: timedelta):
        self._store = store
        self._clock = clock
        self.ttl = ttl

    def start(self, api_key: str) -> str:
        """A new session token for a valid API key; Unauthorized ``invalid_api_key``."""
        key = self._store.active_key(hash_key(api_key)) if api_key else None
        if key is None:
            raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        self._store.create(hash_key(token), key, now, now + self.ttl)
        return token

    def tenant(self, token: str | None) -> str | None:
        """The tenant of a live session token, or None (missing, unknown, expired, revoked)."""
        if token is None or not _plausible(token):
            return None
        return self._store.tenant(hash_key(token), self._clock.now())

    def identity(self, token: str | None) -> KeyIdentity | None:
        """Tenant, key id and roles of the key a live session was opened with, or None
        (the console checks the roles on every page: ``tallybook.console``)."""
        if token is None or not _plausible(token):
            return None
        return self._store.identity(hash_key(token), self._clock.now())

    def end(self, token: str | None) -> bool:
        """Revoke the session (logout); True when a live session was ended."""
        if token is None or not _plausible(token):
            return False
        return self._store.revoke(hash_key(token), self._clock.now())


@dataclass(frozen=True, slots=True)
class PortalLinkToken:
    """A new customer portal link: the raw token (shown once) and when it expires."""

    token: str
    customer: str
    expires_at: datetime


class CustomerPortalService:
    """Single-use links to the customer portal, and the customer sessions they open."""

    def __init__(
        self, store: CustomerPortalStore, clock: Clock, link_ttl: timedelta, session_ttl: timedelta
    ):
        self._store = store
        self._clock = clock
        self.link_ttl = link_ttl
        self.session_ttl = session_ttl

    def create_link(self, tenant_id: str, customer: Customer, key_id: str) -> PortalLinkToken:
        """A link token for ``customer`` (which the caller has read in ``tenant_id``),
        made with API key ``key_id``; revoking that key ends what the link opens."""
        token = LINK_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + self.link_ttl
        self._store.create_link(hash_key(token), tenant_id, customer.id, key_id, now, expires_at)
        return PortalLinkToken(token, customer.id, expires_at)

    def open(self, link_token: str | None) -> str | None:
        """Consume a link and open a customer session: its token, or None when the link
        is unknown, used, expired or its key revoked."""
        if link_token is None or not _plausible(link_token):
            return None
        now = self._clock.now()
        link = self._store.consume_link(hash_key(link_token), now)
        if link is None:
            return None
        session = SESSION_PREFIX + secrets.token_urlsafe(32)
        self._store.create_session(hash_key(session), link, now, now + self.session_ttl)
        return session

    def customer(self, session_token: str | None) -> tuple[str, str] | None:
        """(tenant, customer) of a live customer session, or None."""
        if session_token is None or not _plausible(session_token):
            return None
        return self._store.customer_session(hash_key(session_token), self._clock.now())


def csrf_token(session_token: str) -> str:
    """The anti-CSRF token of a session (HMAC-SHA256 of a fixed label by the session token)."""
    return hmac.new(session_token.encode(), b"tallybook portal csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str | None, sent: str | None) -> bool:
    """True when ``sent`` is the session's anti-CSRF token (constant-time comparison)."""
    if not session_token or not sent:
        return False
    return hmac.compare_digest(csrf_token(session_token), sent)


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_CHARS and token.isprintable()
