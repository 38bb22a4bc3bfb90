"""API keys over HTTP and the CLI: create (shown once), list (never the key or its hash),
revoke.

Roles (CONTRACT, governance): ``admin``, ``pricing_editor``, ``pricing_approver``,
``billing``, ``viewer``, ``ingest``. They are validated and stored here and enforced on
every route by ``api.access`` (``403 forbidden``). Keys stored before roles existed are
``admin``.

Revocation rules:

- revoking an unknown id is ``404 key_not_found``; revoking a revoked key returns it unchanged;
- the key making the call cannot revoke itself (``409 key_in_use``: use another admin key;
  ``409 last_admin_key`` when it is the last active admin key), so a script cannot lock
  itself out by mistake;
- the tenant's last active ``admin`` key cannot be revoked (``409 last_admin_key``: create
  another admin key first), from the API or the CLI.

A revoked key stops working at once in the process that revoked it (its cache is cleared)
and within ``TALLYBOOK_KEY_CACHE_SECONDS`` (default 10 s) in every other process sharing the
store, which re-checks cached keys after that long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.services.customers import check_text
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import ApiKeyRow, Clock, LastAdminKey, TenantStore
from tallybook.services.tenants import TenantService

ROLES = ("admin", "pricing_editor", "pricing_approver", "billing", "viewer", "ingest")
DEFAULT_ROLES = ("admin",)
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``key`` is the secret, shown once and never stored (only its hash)."""

    id: str
    tenant_id: str
    name: str
    roles: tuple[str, ...]
    key: str
    created_at: datetime


def check_roles(roles: Sequence[str] | None) -> tuple[str, ...]:
    """The roles in contract order, duplicates dropped; ``["admin"]`` when None.
    Raises ``ValidationError`` ``invalid_roles`` for an empty list or an unknown name."""
    if roles is None:
        return DEFAULT_ROLES
    unknown = sorted({r for r in roles if r not in ROLES})
    if unknown or not roles:
        raise ValidationError(
            "roles must be a non-empty list of: " + ", ".join(ROLES),
            code="invalid_roles",
            details={"unknown": [u[:64] for u in unknown[:10]], "allowed": list(ROLES)},
        )
    return tuple(r for r in ROLES if r in roles)


class KeyService:
    """Create, list and revoke a tenant's API keys (the API and the CLI share it)."""

    def __init__(self, store: TenantStore, tenants: TenantService, clock: Clock):
        self._store = store
        self._tenants = tenants
        self._clock = clock

    def create(self, tenant_id: str, name: str, roles: Sequence[str] | None = None) -> CreatedKey:
        """A new key for the tenant (created when new). Raises ``ValidationError``
        (``invalid_name``, ``invalid_roles``, ``invalid_tenant``)."""
        if not 1 <= len(name) <= MAX_NAME:
            raise ValidationError(f"name must be 1-{MAX_NAME} characters", code="invalid_name")
        check_text(name, "name")
        chosen = check_roles(roles)
        new = self._tenants.create_key(tenant_id, name, chosen)
        row = self._store.get_key(tenant_id, new.key_id)
        created = row.created_at if row is not None else self._clock.now()
        return CreatedKey(new.key_id, tenant_id, name, chosen, new.key, created)

    def list(
        self, tenant_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[ApiKeyRow]:
        """The tenant's keys by id, revoked ones included (with ``revoked_at``)."""
        after = decode_cursor(cursor, (str,))
        rows = self._store.page_keys(
            tenant_id,
            limit=check_limit(limit) + 1,
            after=None if after is None else str(after[0]),
        )
        return page_of(rows, limit, lambda k: [k.id])

    def _other_admins(self, tenant_id: str, key_id: str) -> bool:
        """True if an active admin key other than ``key_id`` exists."""
        after: str | None = None
        while True:
            rows = self._store.page_keys(tenant_id, limit=500, after=after)
            if any(r.id != key_id and r.revoked_at is None and "admin" in r.roles for r in rows):
                return True
            if len(rows) < 500:
                return False
            after = rows[-1].id

    def revoke(self, tenant_id: str, key_id: str, *, caller: str | None = None) -> ApiKeyRow:
        """Revoke ``key_id``; ``caller`` is the id of the key making the request (None from
        the CLI). Raises ``NotFound`` ``key_not_found``, ``Conflict`` ``key_in_use`` or
        ``last_admin_key``. Clears this process's key cache."""
        if caller is not None and key_id == caller:
            if not self._other_admins(tenant_id, key_id):
                raise Conflict(
                    "this is the tenant's last active admin key: it cannot revoke itself",
                    code="last_admin_key",
                    details={"key": key_id},
                )
            raise Conflict(
                "a key cannot revoke itself: revoke it with another admin key",
                code="key_in_use",
                details={"key": key_id},
            )
        try:
            row = self._store.revoke_key(tenant_id, key_id, self._clock.now())
        except LastAdminKey:
            raise Conflict(
                "this is the tenant's last active admin key: create another admin key first",
                code="last_admin_key",
                details={"key": key_id},
            ) from None
        finally:
            self._tenants.forget_keys()
        if row is None:
            raise NotFound(
                f"no API key {key_id!r}", code="key_not_found", details={"key": key_id[:64]}
            )
        return row
