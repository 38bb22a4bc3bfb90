"""Tenants and API keys: the default tenant, key creation, authentication.

Keys are 32 random bytes (``tb_`` + urlsafe base64); only their SHA-256 is stored, which
is sufficient for high-entropy secrets and cheap enough to check on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cachetools import TTLCache

from tallybook.domain.errors import Unauthorized, ValidationError
from tallybook.services.ports import Clock, KeyIdentity, TenantStore

DEFAULT_TENANT = "default"
KEY_PREFIX = "tb_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class NewKey:
    tenant_id: str
    key: str  # shown once, never stored
    generated: bool
    key_id: str = ""


MAX_CACHED_KEYS = 10_000


MAX_GRACE_SECONDS = 90 * 86_400


class TenantService:
    def __init__(
        self,
        store: TenantStore,
        clock: Clock,
        default_grace_seconds: int = 3600,
        key_cache_seconds: float = 10.0,
    ):
        self._store = store
        self._clock = clock
        self._grace = default_grace_seconds
        # Checked keys, by hash: bounded, and expiring so that a key revoked by another
        # process stops working here within ``key_cache_seconds``.
        self._cache_seconds = key_cache_seconds
        self._cache: TTLCache[str, KeyIdentity] = TTLCache(
            maxsize=MAX_CACHED_KEYS, ttl=max(key_cache_seconds, 0.001)
        )
        self._cache_lock = threading.Lock()

    def grace_seconds(self, tenant_id: str) -> int:
        """How long the tenant's closed periods stay draft (late events still count); the
        configured default for a tenant not stored yet. The one owner of the grace period:
        billing runs read it here."""
        tenant = self._store.get(tenant_id)
        return self._grace if tenant is None else tenant.grace_seconds

    def set_grace_seconds(self, tenant_id: str, seconds: int) -> int:
        """Set the tenant's grace period (0 to ``MAX_GRACE_SECONDS``); ValidationError
        ``invalid_grace`` otherwise. Returns the stored value."""
        if not 0 <= seconds <= MAX_GRACE_SECONDS:
            raise ValidationError(
                f"grace_seconds must be 0-{MAX_GRACE_SECONDS}", code="invalid_grace"
            )
        self._store.set_grace(tenant_id, seconds)
        return self.grace_seconds(tenant_id)

    def name(self, tenant_id: str) -> str:
        """The tenant's display name (its id when it has none)."""
        row = self._store.get(tenant_id)
        return row.name if row is not None else tenant_id

    def ensure_tenant(self, tenant_id: str, name: str | None = None) -> None:
        if self._store.get(tenant_id) is None:
            self._store.create(tenant_id, name or tenant_id, self._clock.now(), self._grace)

    def bootstrap_default(self, configured_key: str | None) -> NewKey | None:
        """First start: create the default tenant and its admin key (configured or generated).

        Returns the new key so the caller can print it once; None when keys already exist.
        A configured key is (re-)registered on every start so scripts can rely on it, unless
        it was revoked: a revoked key stays revoked (remove it from TALLYBOOK_API_KEY).
        """
        self.ensure_tenant(DEFAULT_TENANT, "Default")
        if configured_key:
            if not self._store.hash_known(hash_key(configured_key)):
                self._add(DEFAULT_TENANT, configured_key, "admin (TALLYBOOK_API_KEY)")
                return NewKey(DEFAULT_TENANT, configured_key, generated=False)
            return None
        if self._store.count_keys(DEFAULT_TENANT) > 0:
            return None
        key = generate_key()
        self._add(DEFAULT_TENANT, key, "admin (generated)")
        return NewKey(DEFAULT_TENANT, key, generated=True)

    def create_key(
        self, tenant_id: str, name: str = "api key", roles: Sequence[str] = ("admin",)
    ) -> NewKey:
        """A new key (the tenant is created when new); roles are checked by the caller
        (``tallybook.services.keys``)."""
        if not tenant_id or len(tenant_id) > 64:
            raise ValidationError("tenant id must be 1-64 characters", code="invalid_tenant")
        self.ensure_tenant(tenant_id)
        key = generate_key()
        key_id = self._add(tenant_id, key, name, roles)
        return NewKey(tenant_id, key, generated=True, key_id=key_id)

    def _add(self, tenant_id: str, key: str, name: str, roles: Sequence[str] = ("admin",)) -> str:
        key_id = "key_" + secrets.token_hex(8)
        self._store.add_key(
            key_id,
            tenant_id,
            hash_key(key),
            key[: len(KEY_PREFIX) + 4],
            name,
            self._clock.now(),
            roles,
        )
        return key_id

    def authenticate(self, key: str | None) -> str:
        """The tenant id a bearer key belongs to, or Unauthorized."""
        return self.identify(key).tenant_id

    def identify(self, key: str | None) -> KeyIdentity:
        """The tenant, id and roles of an active bearer key. Raises ``Unauthorized``
        (``missing_api_key``, ``invalid_api_key``). Answers are cached for
        ``key_cache_seconds`` (bounded to ``MAX_CACHED_KEYS`` keys)."""
        if not key:
            raise Unauthorized(
                "missing API key: send Authorization: Bearer <key>", code="missing_api_key"
            )
        digest = hash_key(key)
        with self._cache_lock:
            found = self._cache.get(digest)
        if found is None:
            found = self._store.identity_for_hash(digest)
            if found is None:
                raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
            if self._cache_seconds > 0:
                with self._cache_lock:
                    self._cache[digest] = found
        return found

    def forget_keys(self) -> None:
        """Drop every cached key check (after a revocation)."""
        with self._cache_lock:
            self._cache.clear()
