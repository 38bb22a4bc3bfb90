"""Raw events on ClickHouse (chDB in-process) against PostgreSQL alone, on one run.

    .venv/bin/python bench/clickhouse.py [--events 200000] [--customers 1000]
        [--pg-url postgresql://postgres@127.0.0.1:55432/postgres]

The default is a reduced size that finishes in a few minutes; at ~4,000 events/s for
ingest and for shipping, the issue's size (``--events 10000000 --customers 10000``) takes
hours here: ``bench/clickhouse_bulk.py`` times the reads at that size over bulk-loaded
stores. Two throwaway PostgreSQL databases:

* **PostgreSQL alone**: ingest through ``IngestService`` (validation, dedupe, one
  transaction per 1,000-event batch; no HTTP), usage read with SQL on PostgreSQL;
* **PostgreSQL + chDB**: the same ingest, which also writes each batch's outbox row
  (``event_batches``) in its transaction; then the shipper moves every batch to chDB
  (``insert_deduplication_token`` = batch id); usage read from chDB with ``FINAL``.

Measured: ingest events/s for both, shipping events/s, the billing read (every customer's
month of one meter in one query: ``UsageService.aggregate`` with no customer list), and
one "whale" customer's month (10% of all events), both again on chDB after
``OPTIMIZE TABLE .. FINAL`` (one part per partition, as background merges leave it).
Reads are medians of 5. Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_KEY, DEFAULT_PG, machine, make_batches, postgres_store

from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter

TENANT = "default"


def _container(db_url: str, events_url: str | None) -> Container:
    settings = Settings(
        database_url=db_url,
        events_url=events_url,
        api_key=BENCH_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
    )
    container = build(settings)
    container.tenants.bootstrap_default(BENCH_KEY)
    return container


def _median(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()
    batches = make_batches(args.events // 1000, 1000, customers=args.customers)
    for batch in batches:
        for n, event in enumerate(batch):
            if n % 10 == 0:
                event["customer"] = "whale"
    stamps = [datetime.fromisoformat(e["timestamp"]) for b in batches for e in b]
    start, end = min(stamps) - timedelta(days=1), max(stamps) + timedelta(days=1)
    meter = Meter("tokens", "llm_completion", Aggregation.SUM, value="tokens")
    rows: dict[str, dict[str, str]] = {}
    with (
        postgres_store(args.pg_url) as plain_url,
        postgres_store(args.pg_url) as shipped_url,
        tempfile.TemporaryDirectory() as chdb_dir,
    ):
        stores = {
            "PostgreSQL": _container(plain_url, None),
            "PostgreSQL + chDB": _container(shipped_url, f"chdb://{chdb_dir}"),
        }
        totals = {}
        for name, container in stores.items():
            started = time.perf_counter()
            for batch in batches:
                container.ingest.ingest(TENANT, batch)
            ingest_s = time.perf_counter() - started
            cell = rows.setdefault("ingest (in-process), events/s", {})
            cell[name] = f"{args.events / ingest_s:,.0f}"
            if container.shipper is not None:
                started = time.perf_counter()
                container.shipper.ship_all(limit=20)
                ship_s = time.perf_counter() - started
                rows.setdefault("shipping to chDB, events/s", {})[name] = (
                    f"{args.events / ship_s:,.0f}"
                )
            seconds, result = _median(
                lambda c=container: c.usage.aggregate(TENANT, meter, start, end), 5
            )
            totals[name] = result
            rows.setdefault("billing read: every customer's month, s", {})[name] = f"{seconds:.3f}"
            seconds, _ = _median(
                lambda c=container: c.usage.aggregate(
                    TENANT, meter, start, end, customers=["whale"]
                ),
                5,
            )
            rows.setdefault("one whale customer's month (10% of events), s", {})[name] = (
                f"{seconds:.3f}"
            )
        shipped = stores["PostgreSQL + chDB"]
        executor = shipped.events_executor
        assert executor is not None
        parts = executor.query(
            "SELECT count() FROM system.parts WHERE active AND database = {d:String} "
            "AND table = 'events'",
            {"d": executor.database},
        )[0][0]
        executor.command(f"OPTIMIZE TABLE {executor.database}.events FINAL")
        seconds, merged = _median(lambda: shipped.usage.aggregate(TENANT, meter, start, end), 5)
        assert merged == totals["PostgreSQL + chDB"]
        label = f"billing read after OPTIMIZE .. FINAL (was {parts} parts), s"
        rows[label] = {"PostgreSQL + chDB": f"{seconds:.3f}"}
        seconds, _ = _median(
            lambda: shipped.usage.aggregate(TENANT, meter, start, end, customers=["whale"]), 5
        )
        rows["whale's month after OPTIMIZE .. FINAL, s"] = {"PostgreSQL + chDB": f"{seconds:.3f}"}
        assert totals["PostgreSQL"] == totals["PostgreSQL + chDB"], "the stores disagree"
        for container in stores.values():
            container.close()
    print(f"Machine: {machine()}; {args.events:,} events, {args.customers:,} customers")
    print()
    names = ["PostgreSQL", "PostgreSQL + chDB"]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "-") for n in names) + " |")


if __name__ == "__main__":
    main()
