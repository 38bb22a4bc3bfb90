"""Sustained HTTP ingest, exactly-once and durable, against the raw storage ceiling.

For each store (SQLite file, PostgreSQL throwaway database on the test cluster):

1. HTTP: a uvicorn server (uvloop + httptools; 1 worker, and 2 on PostgreSQL) serves the
   app; a SEPARATE client process posts batches of 1,000 distinct time-ordered events
   with realistic properties to ``POST /v1/events`` from ``--concurrency`` connections, for
   ``--batches`` batches or ``--seconds``, whichever comes first. Prints events/s, p50/p99
   batch latency, the server's peak RSS, and checks the stored count equals the accepted
   count (nothing lost, nothing doubled).
2. Ceiling: the same rows written straight into the same schema with no HTTP and no
   validation, from one connection, one transaction per 1,000 rows and per 8,000 rows
   (what group commit reaches at concurrency 8): SQLite ``executemany`` and PostgreSQL
   COPY into a temp stage + ``INSERT .. SELECT .. ON CONFLICT DO NOTHING`` (the server's
   statements), and PostgreSQL ``unnest`` arrays with binary parameters for reference.

    .venv/bin/python bench/ingest_http.py                 # both stores
    .venv/bin/python bench/ingest_http.py --store sqlite --batches 300
    TALLYBOOK_BENCH_PG_URL=postgresql://... .venv/bin/python bench/ingest_http.py --store postgres
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_KEY,
    DEFAULT_PG,
    Server,
    encode,
    machine,
    make_batches,
    postgres_store,
    prepare_store,
    sqlite_store,
)

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.schema_events import events
from tallybook.domain.instants import to_micros

# -- the client process -------------------------------------------------------------------


def client_main(url: str, args: dict[str, Any], pipe: Connection) -> None:
    bodies = [encode(b) for b in make_batches(args["batches"], args["batch_size"])]
    pipe.send("ready")
    pipe.recv()  # go
    cpu = time.process_time()
    result = asyncio.run(_send_all(url, bodies, args["concurrency"], args["seconds"]))
    result["client_cpu"] -= cpu
    pipe.send(result)


async def _send_all(
    url: str, bodies: list[bytes], concurrency: int, seconds: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {BENCH_KEY}", "Content-Type": "application/json"}
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    queue = list(reversed(bodies))
    started = time.perf_counter()
    deadline = started + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as http:

        async def worker() -> None:
            while queue and time.perf_counter() < deadline:
                body = queue.pop()
                t0 = time.perf_counter()
                response = await http.post("/v1/events", content=body)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    totals["errors"] += 1
                    continue
                result = response.json()
                for key in ("accepted", "duplicates", "rejected"):
                    totals[key] += result[key]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "client_cpu": time.process_time(), **totals}


def run_http(db_url: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    prepare_store(db_url)
    server = Server(db_url, workers)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    settings = {
        "batches": args.batches,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
    }
    client = ctx.Process(target=client_main, args=(server.url, settings, child))
    try:
        client.start()
        assert parent.recv() == "ready"
        cpu = server.cpu_seconds()
        parent.send("go")
        result: dict[str, Any] = parent.recv()
        result["server_cpu"] = server.cpu_seconds() - cpu
        client.join()
        result["rss_mb"] = server.peak_rss_mb()
    finally:
        server.stop()
    engine = make_engine(db_url)
    with engine.connect() as conn:
        result["stored"] = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
    engine.dispose()
    return result


# -- the raw ceiling ------------------------------------------------------------------------


def raw_rows(args: argparse.Namespace) -> list[list[tuple[Any, ...]]]:
    received = to_micros(datetime.now().astimezone())
    out = []
    for batch in make_batches(args.batches, args.batch_size):
        rows = []
        for e in batch:
            props = orjson.dumps(e["properties"], option=orjson.OPT_SORT_KEYS)
            ts = to_micros(datetime.fromisoformat(e["timestamp"]))
            digest = hashlib.blake2b(props, digest_size=16).hexdigest()
            row = (
                "default",
                "",
                e["id"],
                e["customer"],
                e["type"],
                ts,
                props.decode(),
                digest,
                received,
            )
            rows.append(row)
        out.append(rows)
    return out


SQLITE_INSERT = (
    "INSERT INTO events (tenant_id, source, id, customer, type, ts, properties, body_hash, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
PG_UNNEST = (
    "INSERT INTO events (tenant_id, source, id, customer, type, ts, properties, body_hash, "
    "received_at) SELECT %b, s, i, c, t, ts, p::jsonb, h, %b FROM unnest(%b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::int8[], %b::text[], %b::text[]) AS u(s, i, c, t, ts, p, h) "
    "ON CONFLICT DO NOTHING"
)
# the server's own statements (tallybook.adapters.store.events)
PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS events_stage (source text, id text, customer text, "
    "type text, ts bigint, properties jsonb, body_hash text) ON COMMIT DELETE ROWS; "
    "DELETE FROM events_stage"
)
PG_FROM_STAGE = (
    "INSERT INTO events (tenant_id, source, id, customer, type, ts, properties, body_hash, "
    "received_at) SELECT %s, source, id, customer, type, ts, properties, body_hash, %s "
    "FROM events_stage ON CONFLICT DO NOTHING"
)


def ceiling(db_url: str, method: str, batches: list[list[tuple[Any, ...]]], per_txn: int) -> float:
    """Rows per second, ``per_txn`` batches per transaction, on a fresh migrated store."""
    engine = make_engine(db_url)
    upgrade(engine)
    raw: Any = engine.raw_connection()
    driver = raw.driver_connection
    cursor = driver.cursor()
    started = time.perf_counter()
    for n, rows in enumerate(batches):
        if method == "executemany":
            if n % per_txn == 0:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(SQLITE_INSERT, rows)
        elif method == "unnest":
            cols = [list(c) for c in zip(*rows, strict=True)]
            cursor.execute(PG_UNNEST, [rows[0][0], rows[0][8], *cols[1:8]])
        else:
            cursor.execute(PG_STAGE)
            with cursor.copy("COPY events_stage FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row[1:8])
            cursor.execute(PG_FROM_STAGE, (rows[0][0], rows[0][8]))
        if (n + 1) % per_txn == 0 or n + 1 == len(batches):
            cursor.execute("COMMIT") if method == "executemany" else driver.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    engine.dispose()
    return sum(len(b) for b in batches) / elapsed


# -- report ---------------------------------------------------------------------------------


def summary(r: dict[str, Any]) -> tuple[float, float, float]:
    lat = sorted(r["latencies"])
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return r["accepted"] / r["elapsed"], statistics.median(lat) * 1000, p99 * 1000


def report(label: str, results: list[dict[str, Any]]) -> float:
    figures = [summary(r) for r in results]
    rate, p50, p99 = (statistics.median(f[i] for f in figures) for i in range(3))
    exact = all(r["stored"] == r["accepted"] == args_total(r) and r["errors"] == 0 for r in results)
    shown = ", ".join(f"{f[0] / 1000:.1f}k" for f in figures)
    print(
        f"  {label:<36} {rate:>9,.0f} events/s  [{shown}]  p50 {p50:.0f} ms  p99 {p99:.0f} ms"
        f"  peak RSS {max(r['rss_mb'] for r in results):.0f} MB"
        f"  CPU per event: server {cpu_us(results, 'server_cpu'):.0f} us,"
        f" client {cpu_us(results, 'client_cpu'):.0f} us"
        f"  stored == sent: {'yes' if exact else 'NO'}"
    )
    return rate


def cpu_us(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] / max(1, r["accepted"]) * 1e6 for r in results)


def args_total(r: dict[str, Any]) -> int:
    return int(r["accepted"] + r["duplicates"] + r["rejected"])


CEILINGS = {
    "sqlite": [("executemany", 1), ("executemany", 8)],
    "postgres": [("copy", 1), ("copy", 8), ("unnest", 1)],
}


def bench_store(store: str, args: argparse.Namespace) -> None:
    print(f"\n{store}  (each figure: median of {args.repeat} runs; the runs in brackets)")
    rows = raw_rows(args)
    ceilings: dict[str, float] = {}
    for method, per_txn in CEILINGS[store]:
        runs = []
        for _ in range(args.repeat):
            with _store(store, args) as url:
                runs.append(ceiling(url, method, rows, per_txn))
        label = f"{method}, {per_txn * args.batch_size:,} rows/txn"
        ceilings[label] = statistics.median(runs)
        shown = ", ".join(f"{r / 1000:.1f}k" for r in runs)
        print(f"  ceiling {label:<28} {ceilings[label]:>9,.0f} rows/s  [{shown}]")
    for workers in [1] if store == "sqlite" else [1, 2]:
        results = []
        for _ in range(args.repeat):
            with _store(store, args) as url:
                results.append(run_http(url, workers, args))
        rate = report(f"HTTP, {workers} worker(s)", results)
        for label, value in ceilings.items():
            print(f"  {'':<24} = {rate / value:.0%} of the ceiling ({label})")


def _store(store: str, args: argparse.Namespace) -> Any:
    return sqlite_store() if store == "sqlite" else postgres_store(args.pg_url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batches", type=int, default=200, help="batches per run (default 200)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30, help="stop sending after this long")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--pg-url", default=os.environ.get("TALLYBOOK_BENCH_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"{args.batches} batches x {args.batch_size} events, concurrency {args.concurrency}, "
        "time-ordered ids, 1,000 customers"
    )
    for store in ["sqlite", "postgres"] if args.store == "both" else [args.store]:
        bench_store(store, args)


if __name__ == "__main__":
    main()
