"""Billing-run benchmark: N customers on a plan with 3 usage charges, M stored events,
one billing run that closes the month. Prints customers/s, wall time and peak RSS.

    .venv/bin/python bench/billing_run.py                       # SQLite, 10,000 x 10,000,000
    .venv/bin/python bench/billing_run.py --db postgresql://postgres@127.0.0.1:55432/bench
    .venv/bin/python bench/billing_run.py --customers 1000 --events 1000000   # quick

Set-up (not timed as part of the run) writes customers and subscriptions with
executemany and the events with the raw driver (sqlite3 executemany in (customer, type,
time) order; PostgreSQL COPY), the listing index rebuilt afterwards. The run itself
happens in a fresh process (``--run-only``) so its peak RSS is the run's, not the
set-up's: ``BillingService.run`` as the API and the scheduler call it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.db import normalize_url
from tallybook.adapters.store.schema_analytics import invoice_totals
from tallybook.adapters.store.schema_billing import (
    customers,
    invoice_counters,
    invoice_slots,
    invoices,
    subscriptions,
)
from tallybook.adapters.store.schema_webhooks import outbox, outbox_sequences, webhook_messages
from tallybook.adapters.store.subscriptions import schedule_document
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import Phase, PlanRef, QuantityChange, Subscription

TENANT = "default"
START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)  # January closed, grace over: all final
MONTH_MICROS = 31 * 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_MICROS = (START - EPOCH) // timedelta(microseconds=1)
CATALOG: dict[str, Any] = {
    "meters": [
        {"key": "api_calls", "event_type": "api_call", "aggregation": "count"},
        {"key": "tokens", "event_type": "llm", "aggregation": "sum", "value": "tokens"},
        {"key": "storage_gb", "event_type": "storage", "aggregation": "max", "value": "gb"},
    ],
    "plans": [
        {
            "key": "bench",
            "name": "Bench",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "49.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "included": 100,
                    "model": "per_unit",
                    "unit_amount": "0.002",
                },
                {
                    "key": "tokens",
                    "type": "usage",
                    "meter": "tokens",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": 100000, "unit_amount": "0.00002"},
                        {"up_to": None, "unit_amount": "0.00001"},
                    ],
                },
                {
                    "key": "storage",
                    "type": "usage",
                    "meter": "storage_gb",
                    "model": "package",
                    "package_size": 10,
                    "package_amount": "5.00",
                    "rounding": "up",
                },
            ],
        }
    ],
}
TYPES = (("api_call", 5), ("llm", 3), ("storage", 2))  # share of each customer's events


def settings(db: str) -> Settings:
    return Settings(database_url=db, log_json=False, scheduler_interval_seconds=0)


def customer_id(n: int) -> str:
    return f"cust{n:06d}"


# -- set-up ---------------------------------------------------------------------------


def setup(db: str, n_customers: int, n_events: int) -> None:
    container = build(settings(db), clock=FixedClock(START))
    container.tenants.ensure_tenant(TENANT)
    container.catalog.apply(TENANT, CATALOG)
    started = time.perf_counter()
    _customers(container, n_customers)
    print(
        f"set-up: {n_customers:,} customers and subscriptions in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    if container.engine.dialect.name == "postgresql":
        _events_postgres(db, n_customers, n_events)
    else:
        _events_sqlite(db, n_customers, n_events)
    print(f"set-up: {n_events:,} events in {time.perf_counter() - started:.1f} s")
    container.close()


def _customers(container: Container, count: int) -> None:
    ref = PlanRef("bench", 1)
    rows, subs = [], []
    for n in range(count):
        cid = customer_id(n)
        rows.append(
            {
                "tenant_id": TENANT,
                "id": cid,
                "name": None,
                "email": None,
                "currency": "USD",
                "timezone": "UTC",
                "parent_id": None,
                "created_at": START,
            }
        )
        sub = Subscription(
            id=f"sub_{n:08d}",
            customer=cid,
            currency="USD",
            start=START,
            timezone="UTC",
            interval=Interval.MONTH,
            anchor=Anchor.CALENDAR,
            phases=(Phase(ref, START),),
            quantities=(QuantityChange(START, {}),),
        )
        subs.append(
            {
                "tenant_id": TENANT,
                "id": sub.id,
                "customer_id": cid,
                "account_id": cid,
                "plan_key": "bench",
                "plan_version": 1,
                "currency": "USD",
                "start_at": START,
                "end_at": None,
                "billed_through": None,
                "next_issue_at": datetime(2026, 2, 1, tzinfo=UTC),
                "schedule": schedule_document(sub),
                "created_at": START,
                "updated_at": START,
            }
        )
    with container.engine.begin() as conn:
        conn.execute(insert(customers), rows)
        conn.execute(insert(subscriptions), subs)


def _event_rows(n_customers: int, n_events: int, received: int) -> Any:
    """Rows in (customer, type, time) order, ids sequential: append-only index inserts."""
    per_customer = max(1, n_events // n_customers)
    total_share = sum(share for _, share in TYPES)
    rng = random.Random(42)
    seq = 0
    for n in range(n_customers):
        cid = customer_id(n)
        for kind, share in TYPES:
            k = per_customer * share // total_share
            stamps = sorted(START_MICROS + rng.randrange(MONTH_MICROS) for _ in range(k))
            for ts in stamps:
                seq += 1
                if kind == "llm":
                    props = f'{{"tokens": {rng.randrange(1, 2000)}}}'
                elif kind == "storage":
                    props = f'{{"gb": {rng.randrange(1, 500)}}}'
                else:
                    props = "{}"
                yield (TENANT, "", f"e{seq:012d}", cid, kind, ts, props, received, "0" * 32)


def _events_sqlite(db: str, n_customers: int, n_events: int) -> None:
    import sqlite3

    path = db.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-500000")
    conn.execute("DROP INDEX IF EXISTS ix_events_tenant_ts")
    sql = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    received = START_MICROS + 40 * 86_400 * 1_000_000
    batch: list[Any] = []
    conn.execute("BEGIN")
    for row in _event_rows(n_customers, n_events, received):
        batch.append(row)
        if len(batch) >= 200_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.execute("COMMIT")
    conn.execute("CREATE INDEX ix_events_tenant_ts ON events (tenant_id, ts)")
    conn.execute("ANALYZE")
    conn.close()


def _events_postgres(db: str, n_customers: int, n_events: int) -> None:
    import psycopg
    from sqlalchemy import create_engine

    from tallybook.adapters.store import ledger_partitions as ledger

    url = normalize_url(db).replace("postgresql+psycopg://", "postgresql://")
    received = START_MICROS + 40 * 86_400 * 1_000_000
    # after migration 0019 ``events`` is partitioned by the UTC month of ``ts``
    # (``ledger_month``, part of the key): the months the bench writes get their partitions
    engine = create_engine(normalize_url(db))
    with engine.begin() as sa:
        partitioned = ledger.is_partitioned(sa)
        if partitioned:
            have = set(ledger.existing_months(sa))
            for year, month in ((START.year, START.month), (2026, 2)):
                if (year, month) not in have:
                    ledger.create_month(sa, year, month)
    engine.dispose()
    key = "tenant_id, source, id" + (", ledger_month" if partitioned else "")
    columns = "tenant_id, source, id, customer, type, ts, properties, received_at, body_hash"
    with psycopg.connect(url) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_events_tenant_ts")
        conn.execute("DROP INDEX IF EXISTS ix_events_usage")
        conn.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS pk_events")
        copy_sql = f"COPY events ({columns}{', ledger_month' if partitioned else ''}) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in _event_rows(n_customers, n_events, received):
                if partitioned:
                    at = EPOCH + timedelta(microseconds=row[5])
                    row = (*row, ledger.month_key(at.year, at.month))
                copy.write_row(row)
        conn.execute(f"ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY ({key})")
        conn.execute("CREATE INDEX ix_events_usage ON events (tenant_id, customer, type, ts)")
        conn.execute("CREATE INDEX ix_events_tenant_ts ON events (tenant_id, ts)")
        conn.execute("ANALYZE events")


def reset_billing(db: str) -> None:
    """Forget every invoice so a run on reused data bills the month again (and the
    facts the outbox holds about them, so each run starts from the same tables)."""
    container = build(settings(db), migrate=False)
    with container.engine.begin() as conn:
        for table in (
            webhook_messages,
            outbox,
            outbox_sequences,
            invoice_totals,
            invoice_slots,
            invoices,
            invoice_counters,
        ):
            conn.execute(delete(table))
        conn.execute(
            update(subscriptions).values(
                billed_through=None, next_issue_at=datetime(2026, 2, 1, tzinfo=UTC)
            )
        )
    container.close()


# -- the run ------------------------------------------------------------------------------


class TimedUsage:
    """The run's UsageReader, timed: how much of the run is aggregating events."""

    def __init__(self, inner: Any):
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def aggregate(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self.inner.aggregate, args, kwargs)

    def event_values(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self.inner.event_values, args, kwargs)

    def _timed(self, call: Any, args: Any, kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited
    across exec from the set-up process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_only(db: str, whole_tenant: bool | None) -> dict[str, Any]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    if whole_tenant is not None:
        container.billing.bulk_threshold = 1 if whole_tenant else None
    rss_before = peak_rss_kb()
    usage = TimedUsage(container.billing.usage)
    container.billing.usage = usage
    started = time.perf_counter()
    result = container.billing.run(TENANT, AS_OF)
    wall = time.perf_counter() - started
    rss = peak_rss_kb()
    with container.engine.connect() as conn:
        total = conn.execute(text("SELECT COUNT(*) FROM invoices")).scalar_one()
    container.close()
    return {
        "store": container.engine.dialect.name,
        "customers": result.accounts,
        "invoices_created": result.created,
        "invoices_finalized": result.finalized,
        "invoices_stored": total,
        "wall_s": round(wall, 2),
        "usage_queries": usage.calls,
        "usage_s": round(usage.seconds, 2),
        "customers_per_s": round(result.accounts / wall) if wall else None,
        "peak_rss_mb": round(rss / 1024),
        "rss_before_run_mb": round(rss_before / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--reuse", action="store_true", help="skip set-up (data already there); forget invoices"
    )
    parser.add_argument(
        "--usage",
        choices=["default", "whole-tenant", "chunked"],
        default="default",
        help="how usage is read: the store's default, one query per meter for the whole "
        "tenant (customers=None), or one per 1,000 customers",
    )
    parser.add_argument("--run-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-billing.db').resolve()}"
    if args.run_only:
        mode = {"default": None, "whole-tenant": True, "chunked": False}[args.usage]
        print(json.dumps(run_only(db, mode)))
        return
    if args.reuse:
        reset_billing(db)
    else:
        if db.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        setup(db, args.customers, args.events)
    output = subprocess.run(
        [sys.executable, __file__, "--run-only", "--db", db, "--usage", args.usage],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    print(
        f"billing run on {figures['store']}: {figures['customers']:,} customers, "
        f"{args.events:,} events stored: {figures['wall_s']} s "
        f"({figures['usage_s']} s in {figures['usage_queries']} usage queries), "
        f"{figures['customers_per_s']:,} customers/s, peak RSS {figures['peak_rss_mb']} MB "
        f"({figures['rss_before_run_mb']} MB before the run); "
        f"{figures['invoices_created']:,} invoices created, {figures['invoices_finalized']:,} finalized"
    )


if __name__ == "__main__":
    main()
