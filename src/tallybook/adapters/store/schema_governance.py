"""Governance: the hash-chained audit log (one chain per tenant, its head row locked on
append), tenant governance settings, catalog changes awaiting or past approval, and
price overrides per customer or subscription."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

audit_log = Table(
    "audit_log",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcMicros, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("actor_key", String(64), nullable=False),
    Column("action", String(200), nullable=False),
    Column("object", String(500), nullable=False),
    Column("before", Text, nullable=True),  # canonical JSON text (hashed as stored)
    Column("after", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_log_tenant_id_object", audit_log.c.tenant_id, audit_log.c.object)
Index("ix_audit_log_tenant_id_actor", audit_log.c.tenant_id, audit_log.c.actor)
Index("ix_audit_log_tenant_id_at", audit_log.c.tenant_id, audit_log.c.at)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

governance_settings = Table(
    "governance_settings",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("require_approval", Boolean, nullable=False),
    Column("max_increase_pct", DecimalType, nullable=True),
    Column("max_decrease_pct", DecimalType, nullable=True),
    Column("min_notice_days", Integer, nullable=True),
    Column("updated_at", UtcMicros, nullable=False),
)

catalog_changes = Table(
    "catalog_changes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # change | rollback
    Column("status", String(24), nullable=False),
    Column("author_key", String(64), nullable=False),
    Column("author", String(200), nullable=False),
    Column("document", JsonType, nullable=False),
    Column("effective_at", UtcMicros, nullable=False),
    Column("timing", String(16), nullable=False),
    Column("existing", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("diff", JsonType, nullable=False),
    Column("checks", JsonType, nullable=False),
    Column("impact", JsonType, nullable=False),
    Column("versions", JsonType, nullable=True),  # plan key -> {"from", "to"} once approved
    Column("created_at", UtcMicros, nullable=False),
    Column("decided_key", String(64), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcMicros, nullable=True),
    Column("decision_reason", Text, nullable=True),
)
Index("ix_catalog_changes_tenant_id_status", catalog_changes.c.tenant_id, catalog_changes.c.status)

price_overrides = Table(
    "price_overrides",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("level", String(16), nullable=False),  # subscription | customer
    Column("target", String(255), nullable=False),
    Column("charge", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # multiplier | overwrite
    Column("multiplier", DecimalType, nullable=True),
    Column("price", JsonType, nullable=True),
    Column("valid_from", UtcMicros, nullable=False),
    Column("valid_to", UtcMicros, nullable=True),
    Column("created_at", UtcMicros, nullable=False),
)
Index(
    "ix_price_overrides_tenant_id_level_target",
    price_overrides.c.tenant_id,
    price_overrides.c.level,
    price_overrides.c.target,
)
