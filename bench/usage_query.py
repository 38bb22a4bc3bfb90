"""Usage-query speed with 1,000,000 events in one tenant, on SQLite and PostgreSQL.

    .venv/bin/python bench/usage_query.py [--events 1000000] [--customers 1000]
        [--stores sqlite,postgres] [--pg-url postgresql://postgres@127.0.0.1:55432/postgres]

Loads events straight into the ``events`` table (SQLite executemany, PostgreSQL COPY;
secondary indexes rebuilt after the load), spread over 45 days, 4 event types and
``--customers`` customers plus one "whale" customer with 2% of all events. Then measures:

* one customer's usage of one meter over a month, p50/p99 of ``--queries`` random
  customers: ``UsageService.aggregate`` (sum of integer tokens; sum of decimal-string
  amounts; count), ``UsageService.report`` with day windows, the HTTP endpoint
  ``GET /v1/meters/{key}/usage`` on a live server (uvicorn, keep-alive client), and the raw
  ceiling: the bare indexed SQL aggregate on a prepared driver statement;
* the whale's month;
* the billing query: every customer's month in one ``GROUP BY customer`` query;
* resident memory (RSS) of this process after loading, after the single-customer queries
  and after the GROUP BY, and the server's peak.

Prints a Markdown table (paste it into docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH_KEY,
    DEFAULT_PG,
    Server,
    machine,
    postgres_store,
    prepare_store,
    sqlite_store,
)

from tallybook.adapters.store.db import normalize_url
from tallybook.bootstrap import build
from tallybook.config import Settings
from tallybook.domain.metering.meters import WindowSize

TENANT = "default"
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=45)
MONTH = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
CATALOG = {
    "meters": [
        {"key": "calls", "event_type": "api_call", "aggregation": "count"},
        {"key": "tokens", "event_type": "llm", "aggregation": "sum", "value": "tokens",
         "group_by": ["model"]},
        {"key": "payments", "event_type": "payment", "aggregation": "sum", "value": "amount"},
        {"key": "storage", "event_type": "storage", "aggregation": "time_weighted_average",
         "value": "gb"},
    ]
}  # fmt: skip
COLUMNS = ("tenant_id", "source", "id", "customer", "type", "ts", "properties", "received_at",
           "body_hash")  # fmt: skip
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")


# -- data ----------------------------------------------------------------------------------


def rows(count: int, customers: int, seed: int = 42) -> Iterator[tuple[Any, ...]]:
    """Time-ordered events; 40% llm, 40% api_call, 15% payment, 5% storage."""
    rng = random.Random(seed)
    start = int(START.timestamp() * 1_000_000)
    step = SPAN // timedelta(microseconds=1) // count
    for i in range(count):
        ts = start + i * step + rng.randrange(step)
        customer = "whale" if rng.random() < 0.02 else f"cust_{rng.randrange(customers):05d}"
        kind = rng.random()
        if kind < 0.4:
            typ, props = "llm", f'{{"tokens":{rng.randrange(1, 5000)},"model":"{MODELS[i % 4]}"}}'
        elif kind < 0.8:
            typ, props = "api_call", '{"endpoint":"/v1/search","region":"eu"}'
        elif kind < 0.95:
            cents = rng.randrange(100, 100_000)
            typ, props = "payment", f'{{"amount":"{cents // 100}.{cents % 100:02d}"}}'
        else:
            typ, props = "storage", f'{{"gb":{rng.randrange(1, 500)}}}'
        yield (TENANT, "", f"evt_{i:010d}", customer, typ, ts, props, ts, "0" * 32)


def load_sqlite(url: str, count: int, customers: int) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("DROP INDEX ix_events_usage")
    conn.execute("DROP INDEX ix_events_tenant_ts")
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    with conn:
        conn.executemany(sql, rows(count, customers))
    with conn:
        conn.execute("CREATE INDEX ix_events_usage ON events (tenant_id, customer, type, ts)")
        conn.execute("CREATE INDEX ix_events_tenant_ts ON events (tenant_id, ts)")
    conn.close()


def load_postgres(url: str, count: int, customers: int) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP INDEX ix_events_usage")
        conn.execute("DROP INDEX ix_events_tenant_ts")
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows(count, customers):
                copy.write_row(row)
        conn.execute("CREATE INDEX ix_events_usage ON events (tenant_id, customer, type, ts)")
        conn.execute("CREATE INDEX ix_events_tenant_ts ON events (tenant_id, ts)")
        conn.execute("VACUUM ANALYZE events")


# -- measuring -----------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def raw_ceiling(url: str, customers: list[str], runs: int) -> tuple[float, float]:
    s, e = (int(t.timestamp() * 1_000_000) for t in MONTH)
    picks = iter(random.Random(3).choices(customers, k=runs + 20))
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        sql = ("SELECT SUM(json_extract(properties, '$.tokens')) FROM events WHERE tenant_id = ? "
               "AND customer = ? AND type = 'llm' AND ts >= ? AND ts < ?")  # fmt: skip
        return timed(lambda: conn.execute(sql, (TENANT, next(picks), s, e)).fetchone(), runs)
    pg = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
    sql = ("SELECT SUM((properties ->> 'tokens')::numeric) FROM events WHERE tenant_id = %s "
           "AND customer = %s AND type = 'llm' AND ts >= %s AND ts < %s")  # fmt: skip
    return timed(
        lambda: pg.execute(sql, (TENANT, next(picks), s, e), prepare=True).fetchone(), runs
    )


def measure(url: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    container = build(Settings(database_url=url, log_json=False))
    usage, catalog = container.usage, container.catalog
    meters = {m.key: m for m in catalog.list_meters(TENANT)}
    customers = [f"cust_{i:05d}" for i in range(args.customers)]
    rng = random.Random(7)

    def one(meter: str, who: list[str] | None = None) -> Callable[[], object]:
        return lambda: usage.aggregate(
            TENANT, meters[meter], *MONTH, customers=who or [rng.choice(customers)]
        )

    out.append(("RSS after load (MB)", f"{rss_mb():.0f}"))
    for label, fn in [
        ("raw ceiling: bare indexed SQL SUM, prepared", None),
        ("UsageService.aggregate, sum of integer tokens", one("tokens")),
        ("UsageService.aggregate, sum of decimal strings", one("payments")),
        ("UsageService.aggregate, count", one("calls")),
        ("UsageService.aggregate, time-weighted average", one("storage")),
    ]:
        p50, p99 = (
            raw_ceiling(url, customers, args.queries) if fn is None else timed(fn, args.queries)
        )
        out.append((f"one customer, month: {label}", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))

    def report() -> object:
        return usage.report(TENANT, "tokens", *MONTH, customers=[rng.choice(customers)])

    def daily() -> object:
        return usage.report(TENANT, "tokens", *MONTH, window=WindowSize.DAY,
                            tz="America/Los_Angeles", customers=[rng.choice(customers)])  # fmt: skip

    for label, fn in [
        ("UsageService.report, one window", report),
        ("UsageService.report, day windows in America/Los_Angeles", daily),
    ]:
        p50, p99 = timed(fn, args.queries)
        out.append((f"one customer, month: {label}", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))
    p50, p99 = timed(one("tokens", ["whale"]), 50)
    out.append(("the whale (2% of all events), month, sum", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))
    out.append(("RSS after single-customer queries (MB)", f"{rss_mb():.0f}"))
    out += http_figures(url, customers, args.queries)
    for meter in ("tokens", "payments", "calls"):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            result = usage.aggregate(TENANT, meters[meter], *MONTH)
            times.append((time.perf_counter() - began) * 1000)
        out.append((f"billing: GROUP BY customer, month, {meter} ({len(result)} customers)",
                    f"median of 3: {statistics.median(times):.0f} ms"))  # fmt: skip
    out.append(("RSS after GROUP BY queries (MB)", f"{rss_mb():.0f}"))
    container.close()
    return out


def http_figures(url: str, customers: list[str], runs: int) -> list[tuple[str, str]]:
    server = Server(url)
    rng = random.Random(11)
    try:
        with httpx.Client(
            base_url=server.url, headers={"authorization": f"Bearer {BENCH_KEY}"}
        ) as http:

            def call() -> None:
                response = http.get("/v1/meters/tokens/usage", params={
                    "customer": rng.choice(customers), "from": "2026-01-01T00:00:00Z",
                    "to": "2026-02-01T00:00:00Z"})  # fmt: skip
                response.raise_for_status()

            p50, p99 = timed(call, runs)
        return [
            ("one customer, month: HTTP GET /v1/meters/tokens/usage (live server)", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"),
            ("server peak RSS (MB)", f"{server.peak_rss_mb():.0f}"),
        ]  # fmt: skip
    finally:
        server.stop()


def run_store(name: str, url: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    prepare_store(url)
    container = build(Settings(database_url=url, log_json=False))
    container.catalog.apply(TENANT, CATALOG)
    container.close()
    began = time.perf_counter()
    (load_sqlite if name == "sqlite" else load_postgres)(url, args.events, args.customers)
    loaded = time.perf_counter() - began
    figures = [("load (raw driver, indexes rebuilt)", f"{args.events:,} events in {loaded:.1f} s")]
    return figures + measure(url, args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=os.environ.get("TALLYBOOK_TEST_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.events:,} events, {args.customers} customers + whale\n")
    results: dict[str, list[tuple[str, str]]] = {}
    for name in args.stores.split(","):
        if name == "sqlite":
            with sqlite_store() as url:
                results[name] = run_store(name, url, args)
        else:
            with postgres_store(args.pg_url) as url:
                results[name] = run_store(name, normalize_url(url), args)
    names = list(results)
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for index, (label, _) in enumerate(results[names[0]]):
        print(f"| {label} | " + " | ".join(results[n][index][1] for n in names) + " |")


if __name__ == "__main__":
    main()
