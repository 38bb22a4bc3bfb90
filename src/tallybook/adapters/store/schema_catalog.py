"""Catalog tables: meters, plans and their immutable versions.

``meters`` -- one row per (tenant, meter key); ``definition`` is the meter's catalog
document (``catalog_to_document`` form). A changed meter is updated in place.

``plans`` -- one row per (tenant, plan key) naming its newest published version.

``plan_versions`` -- every published version of a plan, never updated or deleted:
``definition`` is the plan's catalog document. Subscriptions pin a version, so a
published version must read back identically for ever.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import JsonType, UtcMicros

meters = Table(
    "meters",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("key", String(100), nullable=False),
    Column("definition", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key", name="pk_meters"),
)

plans = Table(
    "plans",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("key", String(100), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    Column("archived_at", UtcMicros, nullable=True),
    PrimaryKeyConstraint("tenant_id", "key", name="pk_plans"),
)

plan_versions = Table(
    "plan_versions",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("key", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key", "version", name="pk_plan_versions"),
    ForeignKeyConstraint(
        ["tenant_id", "key"],
        ["plans.tenant_id", "plans.key"],
        name="fk_plan_versions_tenant_id_plans",
    ),
)
