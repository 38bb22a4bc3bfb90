"""Tables of issue 10's entitlements, spend limits and customer portal links.

``entitlement_overrides``  one row per (customer, feature) override; NULL fields keep the
                           plan's value; ``enabled`` and ``hard`` are 0/1.
``spend_limits``           one row per customer with a limit (amount in its currency).
``spend_limit_hits``       a limit reached in a period: the primary key (customer, period
                           start, limit amount) makes each hit, and its
                           ``spend_limit.reached`` outbox row, happen once.
``portal_links``           customer portal links by the SHA-256 of their token: single use
                           (``used_at``), expiring, tied to the key that made them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, UtcMicros

entitlement_overrides = Table(
    "entitlement_overrides",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("feature", String(100), nullable=False),
    Column("enabled", Boolean, nullable=True),
    Column("limit_units", DecimalType, nullable=True),
    Column("hard", Boolean, nullable=True),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer_id", "feature", name="pk_entitlement_overrides"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_entitlement_overrides_customer",
    ),
)

spend_limits = Table(
    "spend_limits",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_spend_limits"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_spend_limits_customer",
    ),
)

spend_limit_hits = Table(
    "spend_limit_hits",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("period_start", UtcMicros, nullable=False),
    Column("limit_amount", DecimalType, nullable=False),
    Column("period_end", UtcMicros, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("total", DecimalType, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reached_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "customer_id", "period_start", "limit_amount", name="pk_spend_limit_hits"
    ),
)

portal_links = Table(
    "portal_links",
    metadata,
    Column("token_hash", String(64), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("expires_at", UtcMicros, nullable=False),
    Column("used_at", UtcMicros, nullable=True),
    PrimaryKeyConstraint("token_hash", name="pk_portal_links"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_portal_links_customer",
    ),
    ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_portal_links_key_id_api_keys"),
)
Index("ix_portal_links_expires_at", portal_links.c.expires_at)
