"""Webhook benchmark: delivery rate to a local receiver, and the outbox's cost.

    .venv/bin/python bench/webhooks.py                       # SQLite, + PostgreSQL if reachable
    .venv/bin/python bench/webhooks.py --pg postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/webhooks.py --messages 2000 --customers 500 --events 20000  # quick

1. **Delivery**: ``--messages`` facts are written to the outbox, then the real delivery
   worker (``DeliveryWorker.drain``, default settings: 200 in flight, 16 per endpoint)
   fans them out to one endpoint and POSTs each, signed, to a receiver running in its own
   process on 127.0.0.1 (a minimal asyncio HTTP/1.1 server answering 204; it does not
   verify signatures: the tests do). Workers run in fresh processes (``--workers 1 2``:
   one, then two sharing the queue), so the peak RSS printed is a worker's.
2. **Outbox on vs off**, same run, same store kind, fresh store each, alternated
   ``--rounds`` times (best figure of each side, as the machine may be shared): ``--customers``
   subscriptions created through ``SubscriptionService`` (one ``subscription.created``
   fact each when on), ``--events`` ingested through ``IngestService`` (ingest records no
   facts), and one billing run closing the month (one ``invoice.finalized`` per invoice).

0. **Client ceiling** (``--clients``, printed first): the same receiver, plain POSTs of a
   webhook-sized body, 16 in flight (the per-endpoint default), with aiohttp (the sender's
   client) and with httpx (the one it replaced), in this process: the raw rate a worker
   cannot beat, and the before/after of the client choice.

Bounded: every figure comes from a fixed amount of work on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_PG, machine, postgres_store, sqlite_store
from sqlalchemy import create_engine, text

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.db import normalize_url
from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.bootstrap import build
from tallybook.config import Settings
from tallybook.domain.webhooks import OutboxMessage

TENANT = "default"
START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)
CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "api_call", "aggregation": "count"}],
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
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "0.002",
                },
            ],
        }
    ],
}

RECEIVER = r"""
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(db: str, *, outbox: bool = True) -> Settings:
    return Settings(
        database_url=db, log_json=False, scheduler_interval_seconds=0, outbox_enabled=outbox
    )


# -- 1. delivery --------------------------------------------------------------------------


def write_facts(db: str, messages: int, url: str) -> None:
    """An endpoint to the receiver and ``messages`` facts in the outbox (not timed)."""
    container = build(settings(db))
    container.tenants.ensure_tenant(TENANT)
    created = container.webhooks.create(TENANT, url, ["*"])
    assert created.secret is not None
    now = datetime.now(UTC)
    facts = [
        OutboxMessage("invoice.paid", now, {"invoice": f"inv_{n:08d}", "total": "10.00"}, f"c{n}")
        for n in range(messages)
    ]
    with container.engine.begin() as conn:
        OutboxWriter().add(conn, TENANT, facts, now)
    container.close()


def deliver_only(db: str) -> dict[str, Any]:
    """In a fresh process: one worker delivering until nothing is due."""
    container = build(settings(db), migrate=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_before = _cpu()
    started = time.time()
    attempts = asyncio.run(container.delivery_worker().drain())
    ended = time.time()
    container.close()
    return {
        "attempts": attempts,
        "started": started,
        "ended": ended,
        "cpu_seconds": _cpu() - cpu_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def delivery(db: str, messages: int, workers: int) -> dict[str, Any]:
    """``workers`` worker processes drain ``messages`` facts to one receiver process."""
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        write_facts(db, messages, f"http://127.0.0.1:{port}/hooks")
        cmd = [sys.executable, __file__, "--deliver-only", db]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
        results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    finally:
        receiver.terminate()
        receiver.wait(10)
    attempts = sum(r["attempts"] for r in results)
    assert attempts == messages, f"{attempts} attempts for {messages} messages"
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {
        "messages": messages,
        "workers": workers,
        "seconds": seconds,
        "rate": messages / seconds,
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "rss_before_mb": max(r["rss_before_mb"] for r in results),
    }


# -- 0. client ceiling ---------------------------------------------------------------------


async def _post_all(client: str, url: str, requests: int, in_flight: int) -> tuple[float, float]:
    import aiohttp
    import httpx

    body = b'{"id":"msg_x","type":"invoice.paid","data":{"invoice":"inv_1"}}' * 4
    gate = asyncio.Semaphore(in_flight)
    started, cpu = time.perf_counter(), _cpu()
    if client == "aiohttp":
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=in_flight), trust_env=False
        ) as session:

            async def one_aiohttp() -> None:
                async with gate, session.post(url, data=body, allow_redirects=False) as answer:
                    await answer.read()

            await asyncio.gather(*(one_aiohttp() for _ in range(requests)))
    else:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as http:

            async def one_httpx() -> None:
                async with gate:
                    answer = await http.post(url, content=body)
                    await answer.aclose()

            await asyncio.gather(*(one_httpx() for _ in range(requests)))
    return requests / (time.perf_counter() - started), requests / (_cpu() - cpu)


def client_ceiling(requests: int) -> None:
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        for client in ("aiohttp", "httpx"):
            rate, per_cpu = asyncio.run(
                _post_all(client, f"http://127.0.0.1:{port}/hooks", requests, 16)
            )
            print(
                f"client     {client:8} raw POSTs: {rate:8,.0f} req/s "
                f"({per_cpu:,.0f} per CPU-second), {requests:,} requests, 16 in flight"
            )
    finally:
        receiver.terminate()
        receiver.wait(10)


# -- 2. outbox on vs off ------------------------------------------------------------------


def outbox_cost(db: str, customers: int, events: int, *, outbox: bool) -> dict[str, float]:
    clock = FixedClock(START)
    container = build(settings(db, outbox=outbox), clock=clock)
    container.tenants.ensure_tenant(TENANT)
    container.catalog.apply(TENANT, CATALOG)
    for n in range(customers):
        container.customers.create(TENANT, f"c{n:06d}", currency="USD")
    started = time.perf_counter()
    for n in range(customers):
        container.subscriptions.create(TENANT, f"c{n:06d}", "bench", start=START)
    subscribe = time.perf_counter() - started
    clock.set(START + timedelta(days=20))
    batch = 1000
    stamp = START + timedelta(days=10)
    started = time.perf_counter()
    for first in range(0, events, batch):
        items = [
            {
                "id": f"e{i:09d}",
                "customer": f"c{i % customers:06d}",
                "type": "api_call",
                "timestamp": (stamp + timedelta(microseconds=i)).isoformat(),
            }
            for i in range(first, min(first + batch, events))
        ]
        container.ingest.ingest(TENANT, items)
    ingest = time.perf_counter() - started
    clock.set(AS_OF)
    started = time.perf_counter()
    result = container.billing.run(TENANT, AS_OF)
    run = time.perf_counter() - started
    with container.engine.connect() as conn:
        facts = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    container.close()
    return {
        "subscriptions_per_s": customers / subscribe,
        "events_per_s": events / ingest,
        "run_seconds": run,
        "customers_per_s": customers / run,
        "finalized": result.finalized,
        "facts": facts,
    }


def pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(normalize_url(url), connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def bench_store(name: str, db_factory: Any, args: argparse.Namespace) -> None:
    for workers in args.workers:
        with db_factory() as db:
            got = delivery(db, args.messages, workers)
        print(
            f"{name:10} delivery, {workers} worker(s): {got['messages']:,} messages in "
            f"{got['seconds']:.2f} s = {got['rate']:,.0f} msg/s "
            f"({got['messages'] / got['cpu_seconds']:,.0f} per worker CPU-second); "
            f"peak RSS {got['peak_rss_mb']:.0f} MB per worker "
            f"({got['rss_before_mb']:.0f} MB before delivery)"
        )
    if args.no_outbox_cost:
        return
    figures: dict[bool, dict[str, float]] = {}
    for _ in range(args.rounds):  # off, on, off, on, ...: the best of each (shared machines)
        for outbox in (False, True):
            with db_factory() as db:
                got = outbox_cost(db, args.customers, args.events, outbox=outbox)
            best = figures.setdefault(outbox, got)
            for key, value in got.items():
                best[key] = max(best[key], value) if key.endswith("_per_s") else value
    for key, label in (
        ("subscriptions_per_s", "subscriptions created/s"),
        ("events_per_s", "events ingested/s"),
        ("customers_per_s", "billing run customers/s"),
    ):
        off, on = figures[False][key], figures[True][key]
        print(
            f"{name:10} {label:24} outbox off {off:10,.0f}   on {on:10,.0f}   ({on / off - 1:+.1%})"
        )
    print(
        f"{name:10} facts recorded: off {figures[False]['facts']:,}, on {figures[True]['facts']:,} "
        f"({figures[True]['finalized']:,} invoices finalized)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs (best of each)")
    parser.add_argument("--pg", default=os.environ.get("TALLYBOOK_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--deliver-only", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=3000, help="requests per client (0: skip)")
    parser.add_argument(
        "--no-outbox-cost", action="store_true", help="skip the outbox on/off figures"
    )
    args = parser.parse_args()
    if args.deliver_only:
        print(json.dumps(deliver_only(args.deliver_only)))
        return
    print(f"machine: {machine()}")
    if args.clients:
        client_ceiling(args.clients)
    bench_store("sqlite", sqlite_store, args)
    if pg_reachable(args.pg):
        bench_store("postgres", lambda: postgres_store(args.pg), args)
    else:
        print(f"postgres   skipped: {args.pg} not reachable")


if __name__ == "__main__":
    main()
