"""The dedupe ledger (``events``) partitioned by month on PostgreSQL (issue 15).

Rebuilds ``events`` with a ``ledger_month`` column (``YYYYMM`` of ``ts`` in UTC) as
``PARTITION BY RANGE (ledger_month)`` with primary key
``(tenant_id, source, id, ledger_month)``, a DEFAULT partition and one partition per month from the
oldest stored event to two months ahead, then copies the rows over (one transaction: on
a large table plan the downtime; see docs/scaling.md). SQLite is unchanged (retention
there is a bounded DELETE). See ``adapters/store/ledger_partitions``.

Revision ID: 0019_ledger_partitions
Revises: 0013_stripe_customer_claims
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from tallybook.adapters.store.ledger_partitions import MONTH_OF_TS, add_months, create_month

revision = "0019_ledger_partitions"
down_revision = "0019_tenant_logos"
branch_labels = None
depends_on = None

_INDEXES = (
    "CREATE INDEX ix_events_usage ON events (tenant_id, customer, type, ts)",
    "CREATE INDEX ix_events_tenant_ts ON events (tenant_id, ts)",
)


def _rename_old() -> None:
    op.execute("ALTER TABLE events RENAME TO events_old")
    op.execute("ALTER TABLE events_old RENAME CONSTRAINT pk_events TO pk_events_old")
    op.execute("ALTER INDEX ix_events_usage RENAME TO ix_events_old_usage")
    op.execute("ALTER INDEX ix_events_tenant_ts RENAME TO ix_events_old_tenant_ts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    conn = op.get_bind()
    _rename_old()
    op.execute(
        "CREATE TABLE events (LIKE events_old INCLUDING DEFAULTS, "
        "ledger_month integer NOT NULL DEFAULT 0) PARTITION BY RANGE (ledger_month)"
    )
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT pk_events "
        "PRIMARY KEY (tenant_id, source, id, ledger_month)"
    )
    for statement in _INDEXES:
        op.execute(statement)
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    now = datetime.now(UTC)
    oldest = conn.execute(text("SELECT min(ts) FROM events_old")).scalar()
    if oldest is None:
        month = add_months(now.year, now.month, -1)
    else:
        first = datetime.fromtimestamp(int(oldest) / 1_000_000, UTC)
        month = (first.year, first.month)
    last = add_months(now.year, now.month, 2)
    while month <= last:
        create_month(conn, *month)
        month = add_months(*month, 1)
    op.execute(f"INSERT INTO events SELECT *, {MONTH_OF_TS.format(ts='ts')} FROM events_old")
    op.execute("DROP TABLE events_old")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old()
    op.execute("CREATE TABLE events (LIKE events_old INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE events DROP COLUMN ledger_month")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (tenant_id, source, id)")
    for statement in _INDEXES:
        op.execute(statement)
    # a key stored under two instants (not possible through ingest) keeps its first row
    columns = "tenant_id, source, id, customer, type, ts, properties, received_at, body_hash"
    op.execute(
        f"INSERT INTO events ({columns}) SELECT DISTINCT ON (tenant_id, source, id) {columns} "
        "FROM events_old ORDER BY tenant_id, source, id, received_at"
    )
    op.execute("DROP TABLE events_old")
