"""Monthly partitions of the dedupe ledger (``events``) and its retention (issue 15).

On PostgreSQL ``events`` is declaratively partitioned by ``RANGE (ledger_month)``
(migration ``0019_ledger_partitions``), a PostgreSQL-only integer column holding the UTC
calendar month of the event's time as ``YYYYMM`` (written by the ingest insert from
``ts``, ``MONTH_OF_TS``): one partition per month, ``events_pYYYYMM``, and
``events_default`` (the DEFAULT partition) for rows of a month that has no partition yet
(a late event older than the partitions made, a month not created ahead, or a row written
by hand with the column's default 0). PostgreSQL requires the partition column in every
unique key, so the primary key is ``(tenant_id, source, id, ledger_month)``:

* within a month the key alone decides, under concurrency, exactly as before;
* an identical event re-sent in any later month carries the same timestamp (it is part of
  the body hash), so it lands in the same partition and hits the key;
* a key stored under another month (a conflicting body with another timestamp, or a retry
  of an event sent without a timestamp after the month turned) is found by
  ``events.BatchWriter`` before its insert, across every partition, and counts as stored.
  Two such sends racing in concurrent transactions in different months are the one case
  the key does not serialise (see docs/scaling.md).

Why the event's month and not the month it was received: ClickHouse partitions the same
rows by ``toYYYYMM(ts)``, and only the event's time keeps a repeated body in one partition.

``LedgerMaintenance.run`` (a scheduled job of ``tallybook serve`` and
``tallybook events maintain``):

* creates the partitions of the months from the retention horizon (or last month) to
  ``ahead`` months after the current one; a month whose rows sit in the default partition
  gets them moved into its new partition in the same transaction;
* with ``retention_months`` set, drops the partitions of months before the horizon (the
  first day of the month ``retention_months`` before the current one, UTC) and deletes
  the default partition's rows before it in bounded chunks. On SQLite (no partitions) the
  same horizon is applied by bounded ``DELETE``s.

Nothing is dropped while a ClickHouse batch (``event_batches``) is unshipped: its events
are read from ``events`` by the shipper.

What retention means for dedupe: an id whose stored event is past the horizon is gone from
the ledger, so a retry of it is accepted again (as Lago's and OpenMeter's dedupe windows
are). Events are permanent within the horizon.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from tallybook.adapters.store.db import is_postgres

MONTH_OF_TS = (
    "(extract(year FROM to_timestamp({ts} / 1000000.0) AT TIME ZONE 'UTC') * 100 "
    "+ extract(month FROM to_timestamp({ts} / 1000000.0) AT TIME ZONE 'UTC'))::integer"
)  # SQL: the UTC month ``YYYYMM`` of a micros column; ``.format(ts="e.ts")``
DELETE_CHUNK = 10_000  # rows per bounded DELETE (one short transaction each)
_NAME = re.compile(r"^events_p(\d{4})(\d{2})$")


def month_key(year: int, month: int) -> int:
    """``YYYYMM``, the ``ledger_month`` of ``year``-``month``."""
    return year * 100 + month


def month_start_micros(year: int, month: int) -> int:
    """Microseconds since the epoch of the first instant of ``year``-``month`` in UTC."""
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1_000_000


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """``(year, month)`` moved by ``months`` (negative: back)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def partition_name(year: int, month: int) -> str:
    """``events_pYYYYMM``."""
    return f"events_p{year:04d}{month:02d}"


def horizon(now: datetime, retention_months: int) -> tuple[int, int]:
    """The first month kept under ``retention_months``: the current UTC month minus it."""
    utc = now.astimezone(UTC)
    return add_months(utc.year, utc.month, -retention_months)


def is_partitioned(conn: Connection) -> bool:
    """Whether ``events`` is a partitioned table (PostgreSQL after 0019)."""
    return bool(
        conn.execute(
            text(
                "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = 'events' AND c.relnamespace = to_regnamespace(current_schema())"
            )
        ).first()
    )


def existing_months(conn: Connection) -> list[tuple[int, int]]:
    """The ``(year, month)`` of every monthly partition of ``events``, in order."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' "
            "AND p.relnamespace = to_regnamespace(current_schema())"
        )
    ).scalars()
    months = []
    for name in rows:
        match = _NAME.match(str(name))
        if match:
            months.append((int(match[1]), int(match[2])))
    return sorted(months)


def create_month(conn: Connection, year: int, month: int) -> None:
    """Create the partition of ``year``-``month`` (in the caller's transaction), moving
    any rows of that month out of the default partition first (PostgreSQL refuses to
    attach a range the default partition still holds rows of)."""
    name = partition_name(year, month)
    lo = month_key(year, month)
    hi = month_key(*add_months(year, month, 1))
    conn.execute(text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM events_default WHERE ledger_month = {lo} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    )
    conn.execute(
        text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
    )


@dataclass
class MaintenanceReport:
    """What one ``LedgerMaintenance.run`` did: partitions created and dropped (names) and
    rows deleted (from the default partition on PostgreSQL; from ``events`` on SQLite).
    ``held`` is true when retention was skipped because batches wait to be shipped."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted: int = 0
    held: bool = False


class LedgerMaintenance:
    """Partitions ahead and retention of ``events`` (see module doc). ``now`` gives the
    current instant; ``retention_months`` None keeps every event; ``ahead`` is how many
    months after the current one get a partition in advance (PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime],
        retention_months: int | None,
        *,
        ahead: int = 2,
    ):
        self._engine = engine
        self._now = now
        self._retention = retention_months
        self._ahead = ahead
        self._postgres = is_postgres(engine)

    def run(self) -> MaintenanceReport:
        """Create missing partitions, then apply retention; what was done."""
        report = MaintenanceReport()
        now = self._now().astimezone(UTC)
        first = (
            horizon(now, self._retention)
            if self._retention
            else add_months(now.year, now.month, -1)
        )
        if self._postgres:
            with self._engine.begin() as conn:
                if not is_partitioned(conn):
                    return report
            self._create(first, (now.year, now.month), report)
        if self._retention:
            self._retain(first, report)
        return report

    def _create(
        self, first: tuple[int, int], current: tuple[int, int], report: MaintenanceReport
    ) -> None:
        wanted = []
        month = first
        last = add_months(*current, self._ahead)
        while month <= last:
            wanted.append(month)
            month = add_months(*month, 1)
        with self._engine.connect() as conn:
            have = set(existing_months(conn))
        for year, month_no in wanted:
            if (year, month_no) in have:
                continue
            with self._engine.begin() as conn:
                # one creator at a time (two servers' schedulers); re-check under the lock
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('events_partitions'))"))
                if (year, month_no) in set(existing_months(conn)):
                    continue
                create_month(conn, year, month_no)
            report.created.append(partition_name(year, month_no))

    def _unshipped(self, conn: Connection) -> bool:
        return bool(
            conn.execute(
                text("SELECT 1 FROM event_batches WHERE shipped_at IS NULL LIMIT 1")
            ).first()
        )

    def _retain(self, first: tuple[int, int], report: MaintenanceReport) -> None:
        cutoff = month_start_micros(*first)
        if self._postgres:
            with self._engine.connect() as conn:
                old = [m for m in existing_months(conn) if m < first]
            for year, month_no in old:
                name = partition_name(year, month_no)
                with self._engine.begin() as conn:
                    # the lock first: an ingest still writing there commits before we look
                    conn.execute(text(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
                    if self._unshipped(conn):
                        report.held = True
                        return
                    conn.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
                    conn.execute(text(f"DROP TABLE {name}"))
                report.dropped.append(name)
            table = "events_default"
            chunk = (
                f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} "
                f"WHERE ts < :cutoff LIMIT {DELETE_CHUNK})"
            )
        else:
            chunk = (
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
                f"WHERE ts < :cutoff LIMIT {DELETE_CHUNK})"
            )
        while True:
            with self._engine.begin() as conn:
                if self._unshipped(conn):
                    report.held = True
                    return
                deleted = conn.execute(text(chunk), {"cutoff": cutoff}).rowcount
            report.deleted += int(deleted)
            if deleted < DELETE_CHUNK:
                return
