"""Live usage from rollups, ingest with rollups and alerts, alert latency (issue 10).

    .venv/bin/python bench/live_usage.py                      # full size, both stores
    .venv/bin/python bench/live_usage.py --large 100000 --seconds 10 --probes 40  # reduced
    TALLYBOOK_TEST_PG_URL=postgresql://... .venv/bin/python bench/live_usage.py --stores postgres

For each store (a throwaway SQLite file; a throwaway PostgreSQL database):

1. **Customer usage and entitlement check over HTTP** -- ``GET /v1/customers/{id}/usage``
   and ``GET /v1/customers/{id}/entitlements/probe_units`` (metered, same meter),
   interleaved, for ONE customer with
   ``--small`` and then ``--large`` events in the current month (loaded straight into the
   events table, spread from the month's start to now), measured side by side on a server
   answering from rollups (``TALLYBOOK_LIVE_ROLLUPS=true``, after the one-time backfill,
   whose time is printed) and on one reading raw events (``=false``): p50/p99 of
   ``--queries`` keep-alive requests.
2. **Sustained ingest** -- batches of 1,000 realistic events for 200 subscribed customers
   over ``--concurrency`` connections for ``--seconds``, with rollups and alert evaluation
   on and then off (events/s, p50/p99 batch latency).
3. **Alert latency** -- during sustained ingest (half the connections), a probe customer
   crosses 80 % of its allowance every ``--probe-every`` seconds; the time from the probe's
   ingest answer (its commit) to a local webhook receiver getting its ``alert.triggered``
   message, p50/p99 over ``--probes`` probes (default worker poll intervals).

Prints Markdown tables (paste them into docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH_KEY,
    DEFAULT_PG,
    Server,
    encode,
    free_port,
    machine,
    make_batches,
    postgres_store,
    prepare_store,
    sqlite_store,
)

from tallybook.adapters.store.db import normalize_url
from tallybook.bootstrap import Container, build
from tallybook.config import Settings

TENANT = "default"
HEADERS = {"Authorization": f"Bearer {BENCH_KEY}"}
CATALOG: dict[str, Any] = {
    "meters": [
        {"key": "calls", "event_type": "api_call", "aggregation": "count"},
        {"key": "tokens", "event_type": "llm_completion", "aggregation": "sum",
         "value": "tokens", "group_by": ["model"]},
        {"key": "units", "event_type": "probe", "aggregation": "sum", "value": "n"},
    ],
    "plans": [
        {
            "key": "growth", "currency": "USD", "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "20.00", "timing": "in_arrears"},
                {"key": "api", "type": "usage", "meter": "calls", "included": 100000,
                 "model": "per_unit", "unit_amount": "0.001"},
                {"key": "tokens", "type": "usage", "meter": "tokens", "included": 1000000,
                 "model": "per_unit", "unit_amount": "0.00001"},
                {"key": "probe", "type": "usage", "meter": "units", "included": 1000,
                 "model": "per_unit", "unit_amount": "0.01"},
            ],
            "features": [
                {"key": "probe_units", "type": "metered", "meter": "units",
                 "limit": 100000000, "hard": True},
            ],
        }
    ],
}  # fmt: skip
COLUMNS = ("tenant_id", "source", "id", "customer", "type", "ts", "properties", "received_at",
           "body_hash")  # fmt: skip


class ServeProcess(Server):
    """``tallybook serve`` (the API with its background work: alert evaluator, webhook
    delivery), which ``Server``'s bare app factory does not run."""

    def __init__(self, db_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TALLYBOOK_DATABASE_URL": db_url,
            "TALLYBOOK_LOG_JSON": "false",
            "TALLYBOOK_LOG_LEVEL": "WARNING",
            "TALLYBOOK_API_KEY": BENCH_KEY,
            "TALLYBOOK_SCHEDULER_INTERVAL_SECONDS": "0",
        }
        script = Path(sys.executable).with_name("tallybook")
        cmd = [str(script), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(cmd, env=env)
        self._wait_ready()


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def settings(db_url: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, api_key=BENCH_KEY, log_json=False, **extra)


def subscribe(container: Container, customers: list[str]) -> None:
    container.catalog.apply(TENANT, CATALOG)
    start = month_start(datetime.now(UTC))
    for customer in customers:
        container.customers.create(TENANT, customer, currency="USD")
        container.subscriptions.create(TENANT, customer, "growth", start=start)


def register_rollups(container: Container) -> float:
    """Store the meters' rollup definitions (the first read backfills them): seconds."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    for meter in container.catalog.list_meters(TENANT):
        container.live_usage.aggregate(TENANT, meter, month_start(now), now, customers=["x"])
    return time.perf_counter() - began


# -- 1. customer usage ----------------------------------------------------------------------


def event_rows(customer: str, count: int, first: int) -> Iterator[tuple[Any, ...]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    start = month_start(now)
    span = (now - start).total_seconds() * 1_000_000
    rng = random.Random(first)
    for i in range(count):
        ts = int(start.timestamp() * 1_000_000 + span * i / count)
        props = json.dumps({"n": rng.randrange(1, 5)})
        yield (TENANT, "", f"bulk{first + i:09d}", customer, "probe", ts, props, ts, "0" * 32)


def load(db_url: str, customer: str, count: int, first: int) -> None:
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        with conn:
            conn.executemany(sql, event_rows(customer, count, first))
        conn.close()
        return
    url = normalize_url(db_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in event_rows(customer, count, first):
                copy.write_row(row)
        conn.commit()


CHECK = "/v1/customers/{customer}/entitlements/probe_units"  # metered, on the same meter


def usage_latency(
    db_url: str, customer: str, queries: int, live: bool
) -> dict[str, tuple[float, float]]:
    """p50/p99 ms of ``GET /v1/customers/{id}/usage`` ("usage") and of the entitlement
    check of a metered feature ("check"), ``queries`` keep-alive requests each,
    interleaved so both see the same moments of the machine."""
    os.environ["TALLYBOOK_LIVE_ROLLUPS"] = "true" if live else "false"
    server = Server(db_url)
    paths = {"usage": f"/v1/customers/{customer}/usage", "check": CHECK.format(customer=customer)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as client:
            for path in paths.values():  # warm
                assert client.get(path).status_code == 200
            for _ in range(queries):
                for name, path in paths.items():
                    began = time.perf_counter()
                    response = client.get(path)
                    times[name].append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, response.text
    finally:
        server.stop()
        os.environ.pop("TALLYBOOK_LIVE_ROLLUPS", None)
    return {name: percentiles(values) for name, values in times.items()}


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def usage_rows(db_url: str, args: argparse.Namespace) -> list[list[str]]:
    container = build(settings(db_url))
    subscribe(container, ["whale"])
    rows = []
    loaded = 0
    for size in (args.small, args.large):
        load(db_url, "whale", size - loaded, loaded)
        loaded = size
        backfill = register_rollups(container) if size == args.small else None
        if size != args.small:  # the rows loaded behind ingest's back: rebuild the rollup
            backfill = rebuild(container)
        live = usage_latency(db_url, "whale", args.queries, live=True)
        raw = usage_latency(db_url, "whale", args.queries, live=False)
        rows.append(
            [
                f"{size:,}",
                *(f"{raw[name][0]:.1f} / {raw[name][1]:.1f}" for name in ("usage", "check")),
                *(f"{live[name][0]:.1f} / {live[name][1]:.1f}" for name in ("usage", "check")),
                f"{backfill:.1f} s" if backfill is not None else "",
            ]
        )
    container.close()
    return rows


def rebuild(container: Container) -> float:
    """Drop the stored definitions so the next read backfills from every event (bulk
    loading bypasses ingest, which is what keeps rollups current)."""
    from sqlalchemy import delete

    from tallybook.adapters.store.schema_rollups import rollup_defs

    with container.engine.begin() as conn:
        conn.execute(delete(rollup_defs))
    return register_rollups(container)


# -- 2. and 3. ingest and alert latency -----------------------------------------------------


class Receiver:
    """A local webhook receiver: when each probe customer's alert arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                data = json.loads(body).get("data", {})
                receiver.arrived.setdefault(str(data.get("customer")), time.perf_counter())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


async def pump(
    client: httpx.AsyncClient, batches: list[bytes], deadline: float, latencies: list[float]
) -> int:
    sent = 0
    while batches and time.perf_counter() < deadline:
        body = batches.pop()
        began = time.perf_counter()
        response = await client.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        )
        latencies.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
        sent += int(response.json()["accepted"])
    return sent


async def probe(
    client: httpx.AsyncClient, receiver: Receiver, customers: list[str], every: float
) -> list[float]:
    delays = []
    for customer in customers:
        event = [{"id": f"p-{customer}", "customer": customer, "type": "probe",
                  "properties": {"n": 850}}]  # fmt: skip
        response = await client.post("/v1/events", json=event)
        committed = time.perf_counter()
        assert response.status_code == 200 and response.json()["accepted"] == 1
        deadline = committed + 30
        while customer not in receiver.arrived and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        if customer in receiver.arrived:
            delays.append((receiver.arrived[customer] - committed) * 1000)
        await asyncio.sleep(every)
    return delays


async def load_run(
    url: str,
    args: argparse.Namespace,
    receiver: Receiver | None,
    probes: list[str],
) -> dict[str, Any]:
    made = make_batches(1000, 1000, customers=200, seed=11)  # ids carry the time: fresh
    batches = [encode(b) for b in made]  # customers cust_00000..00199: the subscribed ones
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(
        base_url=url, headers=HEADERS, timeout=60, limits=limits
    ) as client:
        began = time.perf_counter()
        deadline = began + args.seconds
        workers = args.concurrency if receiver is None else max(1, args.concurrency // 2)
        tasks = [pump(client, batches, deadline, latencies) for _ in range(workers)]
        probe_task = None
        if receiver is not None:
            probe_task = asyncio.ensure_future(probe(client, receiver, probes, args.probe_every))
        sent = sum(await asyncio.gather(*tasks))
        elapsed = time.perf_counter() - began
        delays = await probe_task if probe_task is not None else []
    p50, p99 = percentiles(latencies) if latencies else (0.0, 0.0)
    return {"rate": sent / elapsed, "p50": p50, "p99": p99, "delays": delays}


def ingest_rows(db_url_factory: Any, args: argparse.Namespace) -> tuple[list[list[str]], str]:
    rows = []
    latency = ""
    modes = (("rollups + alerts", True, True), ("rollups only", True, False), ("off", False, False))
    for label, on, alerts in modes:
        with db_url_factory() as db_url:
            prepare_store(db_url)
            container = build(settings(db_url))
            customers = [f"cust_{i:05d}" for i in range(200)]
            probes = [f"probe_{i:03d}" for i in range(args.probes)] if alerts else []
            subscribe(container, customers + probes)
            receiver = None
            if on:
                register_rollups(container)
            if alerts:
                receiver = Receiver()
                container.webhooks.create(TENANT, receiver.url, ["alert.triggered"])
            container.close()
            os.environ["TALLYBOOK_LIVE_ROLLUPS"] = "true" if on else "false"
            os.environ["TALLYBOOK_ALERTS_ENABLED"] = "true" if alerts else "false"
            server = ServeProcess(db_url)
            try:
                plain = asyncio.run(load_run(server.url, args, None, []))
                rows.append(
                    [
                        label,
                        f"{plain['rate']:,.0f}",
                        f"{plain['p50']:.0f} / {plain['p99']:.0f}",
                    ]
                )
                if receiver is not None:
                    probed = asyncio.run(load_run(server.url, args, receiver, probes))
                    delays = probed["delays"]
                    if delays:
                        p50, p99 = percentiles(delays)
                        latency = (
                            f"{len(delays)}/{len(probes)} alerts received; commit -> receiver "
                            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (ingest meanwhile "
                            f"{probed['rate']:,.0f} events/s)"
                        )
                    else:
                        latency = "no alert received"
            finally:
                server.stop()
                for name in ("TALLYBOOK_LIVE_ROLLUPS", "TALLYBOOK_ALERTS_ENABLED"):
                    os.environ.pop(name, None)
                if receiver is not None:
                    receiver.close()
    return rows, latency


def load_average() -> str:
    """The 1/5/15-minute load averages (the machine is shared: say how busy it was)."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--probe-every", type=float, default=0.2)
    parser.add_argument("--steps", default="usage,ingest", help="usage, ingest (with alerts)")
    args = parser.parse_args()
    pg_admin = os.environ.get("TALLYBOOK_TEST_PG_URL") or DEFAULT_PG
    print(f"Machine: {machine()}; load average {load_average()}\n")
    for store in args.stores.split(","):

        def factory(store: str = store) -> Any:
            return sqlite_store() if store == "sqlite" else postgres_store(pg_admin)

        print(f"## {store}\n")
        if "usage" in args.steps:
            with factory() as db_url:
                prepare_store(db_url)
                rows = usage_rows(db_url, args)
            header = ["events this month", "raw usage p50 / p99 ms", "raw check p50 / p99 ms",
                      "rollups usage p50 / p99 ms", "rollups check p50 / p99 ms", "backfill"]  # fmt: skip
            print("GET /v1/customers/{id}/usage and the entitlement check, one customer:\n")
            print(table(header, rows) + "\n")
            print(f"Load average after this step: {load_average()}\n")
        if "ingest" not in args.steps:
            continue
        ingest, latency = ingest_rows(factory, args)
        print(f"Sustained ingest, 1,000-event batches, {args.concurrency} connections:\n")
        print(table(["rollups + alerts", "events/s", "batch p50 / p99 ms"], ingest) + "\n")
        print(f"Alert latency: {latency}\n")
        print(f"Load average after this step: {load_average()}\n")


if __name__ == "__main__":
    main()
