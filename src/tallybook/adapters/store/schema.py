"""SQLAlchemy Core tables. One ``metadata`` for the whole store; each area keeps its
tables in its own module (``schema_events``, ``schema_billing``) on this metadata, and
``all_tables()`` imports them all. Alembic migrations in ``migrations/versions`` create
exactly this schema (tests/integration/test_migrations.py compares the two)."""

from __future__ import annotations

import importlib

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, false

from tallybook.adapters.store.types import JsonType, UtcMicros

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("grace_seconds", Integer, nullable=False, server_default="3600"),
    Column("created_at", UtcMicros, nullable=False),
    Column("seller", JsonType, nullable=True),  # the seller profile (domain.finance.parties)
    Column("email_invoices", Boolean, nullable=False, server_default=false()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("revoked_at", UtcMicros, nullable=True),
    Column("roles", String(200), nullable=False, server_default="admin"),
)
Index("ix_api_keys_tenant", api_keys.c.tenant_id)

AREA_MODULES = (
    "tallybook.adapters.store.schema_events",
    "tallybook.adapters.store.schema_catalog",
    "tallybook.adapters.store.schema_billing",
    "tallybook.adapters.store.schema_webhooks",
    "tallybook.adapters.store.schema_analytics",
    "tallybook.adapters.store.schema_portal",
    "tallybook.adapters.store.schema_governance",
    "tallybook.adapters.store.schema_credits",
    "tallybook.adapters.store.schema_payments",
    "tallybook.adapters.store.schema_entitlements",
    "tallybook.adapters.store.schema_rollups",
    "tallybook.adapters.store.schema_finance",
    "tallybook.adapters.store.schema_shipping",
)


def all_tables() -> MetaData:
    """The metadata with every area's tables registered."""
    for name in AREA_MODULES:
        importlib.import_module(name)
    return metadata
