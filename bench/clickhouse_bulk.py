"""Raw-event reads at the issue's size: PostgreSQL alone against chDB, bulk-loaded.

    nice -n -15 .venv/bin/python bench/clickhouse_bulk.py --events 10000000 --customers 10000
        [--whale-events 1000000] [--pg-url postgresql://postgres@127.0.0.1:55432/postgres]

``bench/clickhouse.py`` puts events through ``IngestService`` and the shipper, ~4,000
events/s each here: 10,000,000 events would take hours. This script writes them with
``bench/bulk_events.py`` instead (PostgreSQL ``COPY`` into the partitioned ledger with
``ledger_month``; chDB inserts of the shipper's own row encoding in 100,000-row blocks; the
outbox bypassed), into ONE throwaway PostgreSQL database and one chDB directory, then
checks the two stores hold the same data (count and sum of ``tokens`` per customer, exact)
before timing anything.

All events are ``llm_completion`` in January 2026 (UTC), time-ordered; ``whale`` has
``--whale-events`` of them, the rest spread at random over the other customers. Timed,
medians of 5 (and each run listed), through the product's ``UsageService`` of each store:

* the billing read: every customer's month of a ``sum`` meter in one query (what a
  billing run reads for 10,000 customers);
* one customer's month: the whale's;
* on chDB both again after ``OPTIMIZE TABLE .. FINAL`` (one part per partition).

Also: peak RSS of this process (Python + the in-process engine) over each store's reads
(``/proc/self/clear_refs`` resets the peak before each), the largest peak RSS of the
PostgreSQL server processes of the bench database, the disk size of each store (PostgreSQL
``events`` partitions: table and indexes; chDB: its data directory and active parts),
and the load average before and after. Prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bulk_events import (
    EVENT_TYPE,
    WHALE,
    chdb_aggregates,
    load,
    month_events,
    pg_aggregates,
)
from common import BENCH_KEY, DEFAULT_PG, machine, postgres_store

from tallybook.adapters.clickhouse.executors import ensure_schema, executor_for_url
from tallybook.adapters.store import ledger_partitions as ledger
from tallybook.adapters.store.db import normalize_url
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter

TENANT = "default"
YEAR, MONTH = 2026, 1
RUNS = 5


# where chDB's billing read spends its time: the product's query (``adapters/clickhouse/
# usage.py``) without parts of it, over every customer, on the merged table
_WHERE = "WHERE tenant_id = {{t:String}} GROUP BY customer"
_ANATOMY = {
    "count() per customer, FINAL": "SELECT customer, count() FROM {table} FINAL " + _WHERE,
    "count() per customer, no FINAL": "SELECT customer, count() FROM {table} " + _WHERE,
    "sum of toUInt64(map value), no FINAL": (
        "SELECT customer, sum(toUInt64OrZero(properties['tokens'])) FROM {table} " + _WHERE
    ),
    "sum of toDecimal256(map value, 20), no FINAL": (
        "SELECT customer, toString(sum(toDecimal256OrNull(properties['tokens'], 20))) "
        "FROM {table} " + _WHERE
    ),
}


def _container(db_url: str, events_url: str | None) -> Container:
    container = build(
        Settings(
            database_url=db_url,
            events_url=events_url,
            api_key=BENCH_KEY,
            log_json=False,
            scheduler_interval_seconds=0,
        )
    )
    container.tenants.bootstrap_default(BENCH_KEY)
    return container


def _runs(fn: Callable[[], Any]) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def _cell(times: list[float]) -> str:
    listed = " ".join(f"{t:.2f}" for t in times)
    return f"**{statistics.median(times):.3f}** ({listed})"


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0+)


def _peak_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pg(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(normalize_url(url).replace("postgresql+psycopg://", "postgresql://"))


def _pg_backends_peak(url: str, database: str) -> float:
    """Largest peak RSS of the server processes attached to ``database`` (shared buffers
    they touched count in it)."""
    with _pg(url) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    peaks = []
    for (pid,) in pids:
        with contextlib.suppress(OSError):  # a backend that has exited since
            peaks.append(_peak_mb(pid))
    return max(peaks, default=0.0)


def _pg_size(url: str) -> tuple[int, int]:
    """Bytes of ``events`` over every partition: (table incl. TOAST, indexes)."""
    with _pg(url) as conn:
        row = conn.execute(
            "SELECT sum(pg_table_size(inhrelid)), sum(pg_indexes_size(inhrelid)) "
            "FROM pg_inherits WHERE inhparent = 'events'::regclass"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _du(path: str) -> int:
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB"


def _loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _load_child(
    db_url: str, chdb_dir: str, n_events: int, customers: int, whale_events: int
) -> None:
    """The bulk load (a child process: chDB opens one data path per process, and the
    parent's peak RSS then measures the reads alone)."""
    executor = executor_for_url(f"chdb://{chdb_dir}")
    ensure_schema(executor)
    events = month_events(n_events, customers, whale_events=whale_events, year=YEAR, month=MONTH)
    received = ledger.month_start_micros(*ledger.add_months(YEAR, MONTH, 1))
    months = [(YEAR, MONTH)]
    load(
        db_url,
        executor,
        TENANT,
        events,
        received_micros=received,
        months=months,
        rebuild_indexes=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--whale-events", type=int, help="default: 10%% of --events")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()
    whale_events = args.whale_events or args.events // 10
    start = datetime(YEAR, MONTH, 1, tzinfo=UTC)
    end = datetime(*ledger.add_months(YEAR, MONTH, 1), 1, tzinfo=UTC)
    meter = Meter("tokens", EVENT_TYPE, Aggregation.SUM, value="tokens")
    rows: dict[str, dict[str, str]] = {}
    notes: list[str] = [f"load average at the start: {_loadavg()}"]
    chdb_dir = tempfile.mkdtemp(prefix="tallybook-chdb-")
    try:
        with postgres_store(args.pg_url) as db_url:
            database = db_url.rsplit("/", 1)[1]
            plain = _container(db_url, None)  # migrates the database
            started = time.perf_counter()
            ctx = mp.get_context("spawn")  # the load in a process of its own (see _load)
            child = ctx.Process(
                target=_load_child,
                args=(db_url, chdb_dir, args.events, args.customers, whale_events),
            )
            child.start()
            child.join()
            assert child.exitcode == 0, "the load failed"
            load_s = time.perf_counter() - started
            notes.append(
                f"bulk load of {args.events:,} events into both stores: {load_s:,.0f} s "
                f"({args.events / load_s:,.0f} events/s; load average {_loadavg()})"
            )
            shipped = _container(db_url, f"chdb://{chdb_dir}")
            executor = shipped.events_executor
            assert executor is not None
            started = time.perf_counter()
            in_pg = pg_aggregates(db_url, TENANT)
            in_chdb = chdb_aggregates(executor, TENANT)
            assert in_pg == in_chdb, "the stores disagree"
            assert sum(n for n, _ in in_pg.values()) == args.events
            notes.append(
                f"checked before timing: {len(in_pg):,} customers, count and sum of tokens "
                f"equal per customer in both stores ({time.perf_counter() - started:.0f} s)"
            )
            pg_table, pg_index = _pg_size(db_url)
            rows["disk"] = {
                "PostgreSQL": f"{_gb(pg_table + pg_index)} (table {_gb(pg_table)}, "
                f"indexes {_gb(pg_index)})",
            }
            totals = {}
            for name, container in (("PostgreSQL", plain), ("PostgreSQL + chDB", shipped)):
                _reset_peak()
                base = _rss_mb()
                times, result = _runs(
                    lambda c=container: c.usage.aggregate(TENANT, meter, start, end)
                )
                totals[name] = result
                rows.setdefault("billing read: every customer's month, s", {})[name] = _cell(times)
                times, _ = _runs(
                    lambda c=container: c.usage.aggregate(
                        TENANT, meter, start, end, customers=[WHALE]
                    )
                )
                label = f"the whale's month ({whale_events:,} events), s"
                rows.setdefault(label, {})[name] = _cell(times)
                rows.setdefault("peak RSS of the bench process over the reads", {})[name] = (
                    f"{_peak_mb():,.0f} MB (from {base:,.0f})"
                )
            rows["peak RSS of the bench process over the reads"]["PostgreSQL"] += (
                f"; server backend {_pg_backends_peak(args.pg_url, database):,.0f} MB"
            )
            assert len(totals["PostgreSQL"]) == args.customers
            assert totals["PostgreSQL"] == totals["PostgreSQL + chDB"], "the readers disagree"
            parts = executor.query(
                "SELECT count(), sum(bytes_on_disk) FROM system.parts WHERE active "
                "AND database = {d:String} AND table = 'events'",
                {"d": executor.database},
            )[0]
            rows["disk"]["PostgreSQL + chDB"] = (
                f"{_gb(_du(chdb_dir))} data dir ({parts[0]} parts, {_gb(int(parts[1]))})"
            )
            started = time.perf_counter()
            executor.command(f"OPTIMIZE TABLE {executor.database}.events FINAL")
            notes.append(
                f"OPTIMIZE TABLE .. FINAL: {time.perf_counter() - started:.0f} s "
                f"({parts[0]} parts before)"
            )
            _reset_peak()
            base = _rss_mb()
            times, merged = _runs(lambda: shipped.usage.aggregate(TENANT, meter, start, end))
            assert merged == totals["PostgreSQL"]
            rows["billing read after OPTIMIZE .. FINAL, s"] = {"PostgreSQL + chDB": _cell(times)}
            times, _ = _runs(
                lambda: shipped.usage.aggregate(TENANT, meter, start, end, customers=[WHALE])
            )
            rows["the whale's month after OPTIMIZE .. FINAL, s"] = {
                "PostgreSQL + chDB": _cell(times)
            }
            rows["peak RSS over the reads after OPTIMIZE"] = {
                "PostgreSQL + chDB": f"{_peak_mb():,.0f} MB (from {base:,.0f})"
            }
            after = executor.query(
                "SELECT count(), sum(bytes_on_disk) FROM system.parts WHERE active "
                "AND database = {d:String} AND table = 'events'",
                {"d": executor.database},
            )[0]
            rows["disk after OPTIMIZE"] = {
                "PostgreSQL + chDB": f"{_gb(int(after[1]))} in {after[0]} parts"
            }
            for label, sql in _ANATOMY.items():
                times, _ = _runs(
                    lambda q=sql: executor.query(
                        q.format(table=f"{executor.database}.events"), {"t": TENANT}
                    )
                )
                rows[f"anatomy (merged): {label}, s"] = {"PostgreSQL + chDB": _cell(times)}
            notes.append(f"load average at the end: {_loadavg()}")
            plain.close()
            shipped.close()
    finally:
        shutil.rmtree(chdb_dir, ignore_errors=True)
    print(f"Machine: {machine()}; {args.events:,} events, {args.customers:,} customers")
    for note in notes:
        print(f"- {note}")
    print()
    names = ["PostgreSQL", "PostgreSQL + chDB"]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "-") for n in names) + " |")


if __name__ == "__main__":
    main()
