"""Sustained HTTP ingest with shipping to chDB on, against PostgreSQL alone (issue 15).

    nice -n -15 .venv/bin/python bench/ingest_shipping.py [--seconds 45] [--concurrency 8]
        [--pg-url postgresql://postgres@127.0.0.1:55432/postgres]

For each setup, on a throwaway PostgreSQL database: ``tallybook serve`` (one process,
uvicorn on 127.0.0.1, the scheduler every ``--interval`` seconds) and a SEPARATE client
process (``ingest_http.client_main``) posting 1,000-event batches to ``POST /v1/events``
from ``--concurrency`` connections for ``--seconds``:

* **PostgreSQL alone**: no ``TALLYBOOK_EVENTS_URL``;
* **PostgreSQL + chDB**: ``TALLYBOOK_EVENTS_URL=chdb://DIR``: each ingest transaction
  also writes the batch's outbox row, and the shipper runs where ``tallybook serve`` runs
  it, as the first scheduled job (``ship_all`` every ``--interval`` s, in a thread of the
  server process, beside the requests).

Measured: accepted events/s, batch latency p50/p99, the server's CPU seconds and peak RSS;
with shipping: the shipping lag of every batch, ``shipped_at - created_at`` from
``event_batches`` (``created_at`` is the request's received instant, so the lag includes
the ingest transaction, a few ms to ~100 ms: an upper bound of commit -> shipped), p50 /
p99 / max, and how long the backlog took to drain once the client stopped. After the
server stops, the stored counts are checked: PostgreSQL's ledger and chDB (``FINAL``)
hold exactly the accepted events. Load average before and after each run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_KEY, DEFAULT_PG, free_port, machine, postgres_store, prepare_store
from ingest_http import client_main

from tallybook.adapters.clickhouse.executors import executor_for_url
from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.domain.instants import to_micros


class Serve:
    """``tallybook serve`` on 127.0.0.1 (scheduler on) as its own process."""

    def __init__(self, db_url: str, events_url: str | None, interval: float):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TALLYBOOK_DATABASE_URL": db_url,
            "TALLYBOOK_API_KEY": BENCH_KEY,
            "TALLYBOOK_SCHEDULER_INTERVAL_SECONDS": str(interval),
            "TALLYBOOK_LOG_JSON": "false",
            "TALLYBOOK_LOG_LEVEL": "WARNING",
        }
        env.pop("TALLYBOOK_EVENTS_URL", None)
        if events_url:
            env["TALLYBOOK_EVENTS_URL"] = events_url
        command = [
            str(Path(sys.executable).parent / "tallybook"),
            "serve",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("tallybook serve exited during start-up")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("tallybook serve not ready")

    def _stat(self, index: int) -> int:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[index])

    def cpu_seconds(self) -> float:
        return (self._stat(11) + self._stat(12)) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(db_url: str, chdb_dir: str | None, args: argparse.Namespace) -> dict[str, Any]:
    prepare_store(db_url)
    events_url = f"chdb://{chdb_dir}" if chdb_dir else None
    out: dict[str, Any] = {"load_before": _load()}
    server = Serve(db_url, events_url, args.interval)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    settings = {
        "batches": args.batches,
        "batch_size": 1000,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
    }
    client = ctx.Process(target=client_main, args=(server.url, settings, child))
    engine = make_engine(db_url)
    try:
        client.start()
        assert parent.recv() == "ready"
        cpu = server.cpu_seconds()
        parent.send("go")
        result: dict[str, Any] = parent.recv()
        client.join()
        out.update(result)
        out["server_cpu"] = server.cpu_seconds() - cpu
        if chdb_dir:
            stopped = time.perf_counter()
            with engine.connect() as conn:
                waiting = select(func.count()).where(event_batches.c.shipped_at.is_(None))
                out["backlog"] = int(conn.execute(waiting).scalar_one())
                while conn.execute(waiting).scalar_one():
                    if time.perf_counter() - stopped > 900:
                        raise RuntimeError("the shipper did not drain in 15 minutes")
                    conn.commit()
                    time.sleep(0.2)
            out["drain_s"] = time.perf_counter() - stopped
        out["rss_mb"] = server.peak_rss_mb()
    finally:
        server.stop()
    out["load_after"] = _load()
    with engine.connect() as conn:
        out["stored"] = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
        if chdb_dir:
            c = event_batches.c
            lags = [
                (to_micros(s) - to_micros(r)) / 1000
                for r, s in conn.execute(select(c.created_at, c.shipped_at))
            ]
            out["lag_ms"] = lags
    engine.dispose()
    if chdb_dir:
        executor = executor_for_url(f"{events_url}")
        out["in_chdb"] = int(
            executor.query(f"SELECT count() FROM {executor.database}.events FINAL")[0][0]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batches", type=int, default=1000, help="at most this many batches")
    parser.add_argument("--interval", type=float, default=1.0, help="scheduler interval, s")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(
        f"{args.concurrency} connections, 1,000-event batches, {args.seconds:.0f} s; "
        f"tallybook serve (1 process), scheduler every {args.interval:g} s"
    )
    results = {}
    for name, shipping in (("PostgreSQL", False), ("PostgreSQL + chDB", True)):
        chdb_dir = tempfile.mkdtemp(prefix="tallybook-chdb-") if shipping else None
        try:
            with postgres_store(args.pg_url) as db_url:
                results[name] = run(db_url, chdb_dir, args)
        finally:
            if chdb_dir:
                shutil.rmtree(chdb_dir, ignore_errors=True)
        r = results[name]
        assert r["errors"] == 0, f"{r['errors']} requests failed"
        assert r["stored"] == r["accepted"], "the ledger does not hold the accepted events"
        if shipping:
            assert r["in_chdb"] == r["accepted"], "chDB does not hold the accepted events"
    names = list(results)
    table: dict[str, list[str]] = {}
    for name in names:
        r = results[name]
        lat = sorted(r["latencies"])
        cells = {
            "events accepted (all stored; chDB count equal)": f"{r['accepted']:,}",
            "ingest, events/s": f"{r['accepted'] / r['elapsed']:,.0f}",
            "batch latency p50 / p99, ms": (
                f"{statistics.median(lat) * 1000:.0f} / {_pct(lat, 0.99) * 1000:.0f}"
            ),
            "server CPU, s (of the run's wall time)": f"{r['server_cpu']:.0f} ({r['elapsed']:.0f})",
            "server peak RSS, MB": f"{r['rss_mb']:,.0f}",
            "load average before / after": f"{r['load_before']} / {r['load_after']}",
        }
        if "lag_ms" in r:
            lags = r["lag_ms"]
            cells["shipping lag p50 / p99 / max, ms"] = (
                f"{statistics.median(lags):,.0f} / {_pct(lags, 0.99):,.0f} / {max(lags):,.0f}"
            )
            cells["backlog when the client stopped; drained in"] = (
                f"{r['backlog']} batches; {r['drain_s']:.1f} s"
            )
        for label, value in cells.items():
            table.setdefault(label, ["-"] * len(names))[names.index(name)] = value
    print()
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, values in table.items():
        print(f"| {label} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
