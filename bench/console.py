"""Console render time per page: 10,000 customers and 120,000 invoices (the issue's size).

    .venv/bin/python bench/console.py                          # SQLite, the issue's size
    .venv/bin/python bench/console.py --customers 500 --events 50000   # a quick look
    .venv/bin/python bench/console.py --db postgresql://postgres@127.0.0.1:55444/postgres

Set-up (not timed): ``bench/billing_run.py``'s customers, subscriptions and January 2026
events, and ``bench/analytics.py``'s 12 months of final invoices per customer (written
directly). Then an admin logs in to the console (ASGI client in this process, fixed clock
2026-02-01T02:00Z) and each page is fetched ``--repeat`` times; printed: the median and
the worst server time per page (the request's wall time in-process: routing, services,
SQL, template). The MRR figures are a stored snapshot the scheduler refreshes
(``services.mrr_snapshots``): set-up computes it once (its time is printed: the
scheduler's cost, not a page's). The overage panel reads the marks the alert evaluator
keeps (fired allowance alerts): set-up writes them for every 5th customer. The issue's bar is < 300 ms per page at 10,000
customers and 100,000 invoices. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics import write_invoices
from billing_run import AS_OF, TENANT, customer_id, settings, setup

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_rollups import fired_alerts
from tallybook.api.app import create_app
from tallybook.bootstrap import build


def pages(customers: int) -> list[tuple[str, str]]:
    """(label, URL) of every console page measured."""
    middle = customer_id(customers // 2)
    return [
        ("overview (with the stored MRR snapshot)", "/console"),
        ("overview: MRR panel (the stored snapshot)", "/console/overview/mrr"),
        ("overview: overage panel (marks, 20 customers)", "/console/overview/overage"),
        ("customers", "/console/customers"),
        ("customers search 'cust0001'", "/console/customers?q=cust0001"),
        ("customers by email (none)", "/console/customers?q=nobody%40example.com"),
        ("customer page", f"/console/customers/{middle}"),
        ("invoices", "/console/invoices"),
        ("invoices of one customer", f"/console/invoices?customer={middle}"),
        ("invoices paid in 2025-06", "/console/invoices?status=paid&period=2025-06"),
        ("invoice by number", "/console/invoices?number=1000042"),
        ("invoice page", "/console/invoices/inv_0000000042"),
        ("operations", "/console/operations"),
        ("experiments", "/console/experiments"),
        ("experiment arms", "/console/experiments/arms"),
    ]


def prepare(db: str, customers: int) -> None:
    """What the server keeps in the background, set up apart: the MRR snapshot (the
    scheduler's job, timed), the live-usage rollups of the bulk-loaded events (ingest
    writes them; here the first live read backfills them, timed) and the overage marks: at the bench's instant February has
    just begun, so no customer is over an allowance; every 5th customer gets the fired
    80 and 100 % default allowance alerts of February (written directly, as the alert
    evaluator would), so the overage panel pages through 2,000 customers."""
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    started = time.perf_counter()
    container.mrr_snapshots.refresh(TENANT)
    print(f"set-up: MRR snapshot (scheduler job) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()  # the live-usage rollups of bulk-loaded events: built
    container.previews.current_usage(TENANT, customer_id(0))  # once, on first read
    print(f"set-up: rollups backfilled (first live read) in {time.perf_counter() - started:.1f} s")
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {
            "tenant_id": TENANT,
            "id": f"fa_{n:06d}_{threshold}",
            "alert_id": "default:allowance:api",
            "customer_id": customer_id(n),
            "threshold": threshold,
            "period_start": start,
            "period_end": end,
            "type": "allowance_percent",
            "charge": "api",
            "value": Decimal(150),
            "limit": Decimal(100),
            "fired_at": AS_OF,
        }
        for n in range(0, customers, 5)
        for threshold in ("80", "100")
    ]
    with container.engine.begin() as conn:
        conn.execute(insert(fired_alerts), rows)
    container.close()


def measure(db: str, customers: int, repeat: int) -> list[tuple[str, float, float, int]]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    key = container.keys.create(TENANT, "console bench", ["admin"]).key
    rows = []
    with TestClient(create_app(container=container)) as browser:
        login = browser.post("/console/login", data={"api_key": key}, follow_redirects=False)
        assert login.status_code == 303, login.text
        for label, url in pages(customers):
            times = []
            status = 0
            for _ in range(repeat):
                started = time.perf_counter()
                answer = browser.get(url, follow_redirects=False)
                times.append((time.perf_counter() - started) * 1000)
                status = answer.status_code
            rows.append((label, statistics.median(times), max(times), status))
    container.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="skip set-up (data already there)")
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-console.db').resolve()}"
    if not args.reuse:
        if db.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        setup(db, args.customers, args.events)
        started = time.perf_counter()
        write_invoices(db, args.customers)
        print(f"set-up: {12 * args.customers:,} invoices in {time.perf_counter() - started:.1f} s")
        prepare(db, args.customers)
    rows = measure(db, args.customers, args.repeat)
    store = "PostgreSQL" if db.startswith("postgresql") else "SQLite"
    print(
        f"\nconsole on {store}: {args.customers:,} customers, {12 * args.customers:,} invoices, "
        f"{args.repeat} requests per page\n"
    )
    print("| page | median ms | worst ms | status |\n|---|---:|---:|---:|")
    for label, median, worst, status in rows:
        print(f"| {label} | {median:.1f} | {worst:.1f} | {status} |")


if __name__ == "__main__":
    main()
