"""Tenants, their API keys and the sessions opened with them (operator portal sessions,
single-use customer portal links)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    grace_seconds: int
    seller: Mapping[str, Any] | None = None  # the seller profile (domain.finance.parties)
    email_invoices: bool = False  # e-mail invoices and credit notes when final


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: str
    tenant_id: str
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    roles: tuple[str, ...] = ("admin",)


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a bearer key is: its tenant, its id, its roles and its name (the audit actor)."""

    tenant_id: str
    key_id: str
    roles: tuple[str, ...]
    name: str = ""


class TenantStore(Protocol):
    def get(self, tenant_id: str) -> TenantRow | None: ...

    def create(self, tenant_id: str, name: str, now: datetime, grace_seconds: int) -> TenantRow: ...

    def set_grace(self, tenant_id: str, grace_seconds: int) -> None: ...

    def set_finance(self, tenant_id: str, values: Mapping[str, Any]) -> None:
        """Set ``seller`` (a JSON document or None) and/or ``email_invoices``."""
        ...

    def count_keys(self, tenant_id: str) -> int: ...

    def add_key(
        self,
        key_id: str,
        tenant_id: str,
        key_hash: str,
        prefix: str,
        name: str,
        now: datetime,
        roles: Sequence[str] = ("admin",),
    ) -> None: ...

    def tenant_for_hash(self, key_hash: str) -> str | None: ...

    def identity_for_hash(self, key_hash: str) -> KeyIdentity | None: ...

    def hash_known(self, key_hash: str) -> bool: ...

    def get_key(self, tenant_id: str, key_id: str) -> ApiKeyRow | None: ...

    def page_keys(self, tenant_id: str, *, limit: int, after: str | None) -> list[ApiKeyRow]: ...

    def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKeyRow | None:
        """None when there is no such key; LastAdminKey when it is the last active admin."""
        ...


class LastAdminKey(Exception):
    """Revoking this key would leave the tenant without an active admin key."""


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A not-revoked API key a portal session is opened with."""

    id: str
    tenant_id: str


class PortalSessionStore(Protocol):
    """Portal sessions; tokens arrive already hashed (SHA-256 hex)."""

    def active_key(self, key_hash: str) -> ActiveKey | None: ...

    def create(
        self, token_hash: str, key: ActiveKey, now: datetime, expires_at: datetime
    ) -> None: ...

    def tenant(self, token_hash: str, now: datetime) -> str | None: ...

    def identity(self, token_hash: str, now: datetime) -> KeyIdentity | None: ...

    def revoke(self, token_hash: str, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class PortalLink:
    """A consumed customer portal link: whose session it opens, and with which key."""

    tenant_id: str
    customer: str
    key_id: str


class CustomerPortalStore(Protocol):
    """Customer portal links (single use) and the customer sessions they open; tokens
    arrive hashed (SHA-256 hex)."""

    def create_link(
        self,
        token_hash: str,
        tenant_id: str,
        customer: str,
        key_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    def consume_link(self, token_hash: str, now: datetime) -> PortalLink | None:
        """Mark an unused, unexpired link used (atomically) and return it; None otherwise
        (unknown, used, expired, or its key revoked)."""
        ...

    def create_session(
        self, token_hash: str, link: PortalLink, now: datetime, expires_at: datetime
    ) -> None: ...

    def customer_session(self, token_hash: str, now: datetime) -> tuple[str, str] | None:
        """(tenant, customer) of a live customer session, or None."""
