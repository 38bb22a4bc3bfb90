"""Rollup and alert tables (issue 10).

``rollup_defs``     one row per rollup definition a tenant's meters read
                    (``domain.metering.rollups.RollupDef``: event type, value path, filter,
                    group_by as JSON), keyed by its ``fingerprint``. A definition is
                    written, with its backfill from raw events, before any reader trusts
                    its rollups; ingest rolls up every stored definition of the tenant.
``usage_rollups``   exact partial aggregates per (definition, customer, dimension values,
                    UTC hour): ``count`` events, ``sum``/``min``/``max`` of their valid
                    values, ``raw`` events the rollup could not place exactly. ``hour`` is
                    the hour's start in microseconds since the epoch; ``dims`` the JSON
                    array of the ``group_by`` texts, ``dims_key`` its digest (keys stay
                    short whatever the values). Written in the ingest transaction.
                    ``shard``: concurrent ingest transactions on PostgreSQL write one of
                    8 rows per cell (chosen per transaction), so they rarely wait on
                    each other's row locks; readers add the shards up.
``alert_pending``   customers whose usage changed since their alerts were last evaluated:
                    one row per (customer, ingest transaction) -- ``mark`` is unique per
                    transaction, so ingest only inserts and never waits on a lock --
                    claimed by an evaluator (``claimed_until``: a lease) and deleted, the
                    claimed marks only, after the evaluation: a kill mid-evaluation loses
                    nothing, and marks written meanwhile are evaluated on the next pass.
``alerts``          alert rules (``POST /v1/alerts``); ``thresholds`` is a JSON list of
                    decimal strings.
``alert_settings``  per tenant: ``default_allowance`` (1: every usage charge with an
                    allowance has 80/100 % alerts).
``fired_alerts``    one row per (alert, customer, threshold, period start): the UNIQUE key
                    makes a second firing impossible, also for racing evaluators; the
                    ``alert.triggered`` outbox row is written in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

rollup_defs = Table(
    "rollup_defs",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("definition", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "fingerprint", name="pk_rollup_defs"),
)

usage_rollups = Table(
    "usage_rollups",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("customer", String(255), nullable=False),
    Column("hour", BigInteger, nullable=False),
    Column("dims_key", String(32), nullable=False),
    Column("dims", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("sum", DecimalType, nullable=False),
    Column("min", DecimalType, nullable=True),
    Column("max", DecimalType, nullable=True),
    Column("raw", BigInteger, nullable=False),
    Column("shard", Integer, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id",
        "fingerprint",
        "customer",
        "hour",
        "dims_key",
        "shard",
        name="pk_usage_rollups",
    ),
)

alert_pending = Table(
    "alert_pending",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("mark", String(32), nullable=False),
    Column("touched_at", UtcMicros, nullable=False),
    Column("claimed_until", UtcMicros, nullable=True),
    PrimaryKeyConstraint("tenant_id", "customer_id", "mark", name="pk_alert_pending"),
)
Index("ix_alert_pending_touched", alert_pending.c.touched_at)

alerts = Table(
    "alerts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("customer_id", String(255), nullable=True),
    Column("plan", String(255), nullable=True),
    Column("type", String(32), nullable=False),
    Column("charge", String(255), nullable=True),
    Column("thresholds", JsonType, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_alerts"),
)

alert_settings = Table(
    "alert_settings",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("default_allowance", Integer, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_alert_settings"),
)

fired_alerts = Table(
    "fired_alerts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("alert_id", String(255), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("threshold", String(64), nullable=False),
    Column("period_start", UtcMicros, nullable=False),
    Column("period_end", UtcMicros, nullable=False),
    Column("type", String(32), nullable=False),
    Column("charge", String(255), nullable=True),
    Column("value", DecimalType, nullable=False),
    Column("limit", DecimalType, nullable=True),
    Column("fired_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_fired_alerts"),
    UniqueConstraint(
        "tenant_id",
        "alert_id",
        "customer_id",
        "threshold",
        "period_start",
        name="uq_fired_alerts_once",
    ),
)
Index("ix_fired_alerts_customer", fired_alerts.c.tenant_id, fired_alerts.c.customer_id)
