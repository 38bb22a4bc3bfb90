"""Analytics benchmark on the billing bench's data: a backtest of one month for all
customers, usage percentiles and the allowance model, MRR with movements over 24 months.

    .venv/bin/python bench/analytics.py                         # SQLite, 2,000 x 1,000,000
    .venv/bin/python bench/analytics.py --db postgresql://postgres@127.0.0.1:55448/postgres
    .venv/bin/python bench/analytics.py --customers 10000 --events 10000000   # the issue's size

Set-up (not timed): ``bench/billing_run.py``'s customers, subscriptions (calendar monthly
from 2026-01-01) and January 2026 events, then 11 months of final invoices per customer
(February 2025 to December 2025: one flat and three usage lines each) written directly,
with the per-invoice usage totals finalizing writes (``invoice_totals``), and January
2026 billed by a real billing run as of 2026-02-01T02:00Z (its opening and period
invoices, final, with their ``invoice_totals`` and ``period_usage`` rows).
Each measurement runs in this process with a fixed clock (2026-02-01T02:00Z); the
backtest's peak RSS is measured in a fresh process. Each figure is wall time and "CPU
here", the measuring process's CPU time (steadier than wall time on a shared machine;
it leaves out the database server's work, which is most of PostgreSQL's share).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

from billing_run import (
    AS_OF,
    CATALOG,
    TENANT,
    customer_id,
    peak_rss_kb,
    settings,
    setup,
)

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.invoice_totals import totals_rows
from tallybook.adapters.store.schema_analytics import invoice_totals
from tallybook.adapters.store.schema_billing import invoices
from tallybook.bootstrap import build
from tallybook.domain.analytics.months import Month
from tallybook.services.backtests import BacktestRequest
from tallybook.services.rerating import Window

CANDIDATE = {
    **CATALOG["plans"][0],
    "charges": [
        {**CATALOG["plans"][0]["charges"][0], "amount": "59.00"},
        {**CATALOG["plans"][0]["charges"][1], "included": 500, "unit_amount": "0.0025"},
        *CATALOG["plans"][0]["charges"][2:],
    ],
}


def write_invoices(db: str, n_customers: int) -> None:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    rows: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []  # what finalizing writes (invoice_totals.py)
    number = 0
    with container.engine.begin() as conn:
        for back in range(12, 1, -1):
            month = Month(2026, 2).plus(-back)
            start, end = month.start, month.end
            for n in range(n_customers):
                number += 1
                cid = customer_id(n)
                lines = [_line("flat", "platform", "49.00", start, end, cid)] + [
                    _line("usage", charge, f"{(n % 97) * 0.37 + i:.2f}", start, end, cid)
                    for i, charge in enumerate(("api", "tokens", "storage"))
                ]
                total = sum(float(line["amount"]) for line in lines)  # set-up only
                rows.append(
                    {
                        "tenant_id": TENANT,
                        "id": f"inv_{number:010d}",
                        "number": 1_000_000 + number,
                        "status": "finalized",
                        "customer_id": cid,
                        "currency": "USD",
                        "kind": "period",
                        "period_start": start,
                        "period_end": end,
                        "issue_at": end,
                        "subtotal": f"{total:.2f}",
                        "discount_total": "0.00",
                        "credits_applied": "0.00",
                        "total": f"{total:.2f}",
                        "lines": lines,
                        "content_hash": "0" * 64,
                        "created_at": end,
                        "updated_at": end,
                        "finalized_at": end,
                    }
                )
                totals.extend(totals_rows(TENANT, rows[-1]["id"], cid, "USD", end, lines))
                if len(rows) >= 5000:
                    _insert(conn, rows, totals)
        if rows:
            _insert(conn, rows, totals)
    result = container.billing.run(TENANT, AS_OF)  # January, as billing does it
    print(f"set-up: January billed, {result.finalized:,} invoices finalized")
    container.close()


def _insert(conn: Connection, rows: list[dict[str, Any]], totals: list[dict[str, Any]]) -> None:
    conn.execute(insert(invoices), rows)
    conn.execute(insert(invoice_totals), totals)
    rows.clear()
    totals.clear()


def _line(
    kind: str, charge: str, amount: str, start: datetime, end: datetime, cid: str
) -> dict[str, Any]:
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {
        "type": kind,
        "description": charge,
        "charge": charge,
        "quantity": "1",
        "unit_amount": amount,
        "amount": amount,
        "period_start": iso(start),
        "period_end": iso(end),
        "used": None,
        "included": None,
        "breakdown": [],
        "dimension": None,
        "customer": cid,
        "subscription": None,
    }


def backtest_only(db: str) -> dict[str, Any]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    request = BacktestRequest(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), [("bench", CANDIDATE)]
    )
    started, cpu = time.perf_counter(), time.process_time()
    row = container.backtests.create(TENANT, request, background=False)
    done = container.backtests.run(TENANT, row.id, request)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    container.close()
    assert done.status == "succeeded", done.error
    summary = (done.result or {})["summary"]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak_rss_kb() / 1024),
        **summary,
    }


def measure(db: str) -> dict[str, Any]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    figures: dict[str, Any] = {"store": container.engine.dialect.name}
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), AS_OF)
    started, cpu = time.perf_counter(), time.process_time()
    rows = container.percentiles.percentiles(
        TENANT, window, [Decimal(50), Decimal(75), Decimal(90)], plan="bench", charge="api"
    )
    figures["percentiles_s"] = round(time.perf_counter() - started, 2)
    figures["percentiles_cpu_s"] = round(time.process_time() - cpu, 2)
    figures["p50_api"] = f"{rows[0].values['p50']}"
    started, cpu = time.perf_counter(), time.process_time()
    model = container.percentiles.allowance_model(
        TENANT, "bench", "api", window, ["current", "p50", "p75", "p90"]
    )
    figures["allowance_model_s"] = round(time.perf_counter() - started, 2)
    figures["allowance_model_cpu_s"] = round(time.process_time() - cpu, 2)
    figures["allowance_totals"] = [f"{row.total}" for row in model]
    started, cpu = time.perf_counter(), time.process_time()
    mrr = container.analytics.mrr(TENANT, Month(2024, 2), Month(2026, 1))
    figures["mrr_24_months_s"] = round(time.perf_counter() - started, 2)
    figures["mrr_24_months_cpu_s"] = round(time.process_time() - cpu, 2)
    figures["mrr_2026_01"] = f"{mrr[-1].totals.mrr}"
    container.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="skip set-up (data already there)")
    parser.add_argument("--setup-only", action="store_true", help="set up, measure nothing")
    parser.add_argument("--backtest-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-analytics.db').resolve()}"
    if args.backtest_only:
        print(json.dumps(backtest_only(db)))
        return
    if not args.reuse:
        if db.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        setup(db, args.customers, args.events)
        started = time.perf_counter()
        write_invoices(db, args.customers)
        print(f"set-up: invoices in {time.perf_counter() - started:.1f} s")
    if args.setup_only:
        return
    output = subprocess.run(
        [sys.executable, __file__, "--backtest-only", "--db", db],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    backtest = json.loads(output.strip().splitlines()[-1])
    figures = measure(db)
    print(
        f"analytics on {figures['store']}: {args.customers:,} customers, {args.events:,} events, "
        f"12 months of invoices\n"
        f"  backtest of January for all customers: {backtest['wall_s']} s "
        f"(CPU here {backtest['cpu_s']} s), peak RSS "
        f"{backtest['peak_rss_mb']} MB (original {backtest['original_total']}, candidate "
        f"{backtest['candidate_total']}, {backtest['delta_pct']}%)\n"
        f"  usage percentiles (api): {figures['percentiles_s']} s "
        f"(CPU here {figures['percentiles_cpu_s']} s; p50 {figures['p50_api']})\n"
        f"  allowance model (current, p50, p75, p90): {figures['allowance_model_s']} s "
        f"(CPU here {figures['allowance_model_cpu_s']} s)\n"
        f"  MRR with movements over 24 months: {figures['mrr_24_months_s']} s "
        f"(CPU here {figures['mrr_24_months_cpu_s']} s) "
        f"(2026-01 MRR {figures['mrr_2026_01']})"
    )


if __name__ == "__main__":
    main()
