"""Hostile-body benchmark: ``/healthz`` latency while refused and heavy catalog bodies arrive.

    .venv/bin/python bench/hostile_load.py                  # 5 s of probes per phase
    .venv/bin/python bench/hostile_load.py --seconds 10

A real server (``Server``: uvicorn, one worker, SQLite). A probe calls ``/healthz`` every
20 ms, first on an idle server (the "before": the raw ceiling of one probe on this machine),
then while five clients keep sending issue 17's reproductions (a 3,000-deep ``[`` YAML, a
depth-500 YAML, a 5,000-deep JSON, a 4 MB body) and the heaviest legal document (about
250 KiB of YAML plans). Prints median, p95, p99 and max of both phases and the refusal
statuses seen. Target (issue 17): median under 100 ms under hostile load.

Bounded: two phases of ``--seconds`` each, five hostile clients, 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_KEY, Server, machine, prepare_store, sqlite_store

YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}
FLOW_3000 = "meters: " + "[" * 3000 + "]" * 3000 + "\nplans: []"
BLOCK_500 = "meters:\n" + "".join(f"{'  ' * i}  k{i}:\n" for i in range(500)) + "plans: []\n"
JSON_5000 = '{"meters": ' + "[" * 5000 + "]" * 5000 + ', "plans": []}'
FOUR_MB = "[" * (4 * 1024 * 1024)


def heavy_but_legal_yaml(size: int = 250 * 1024) -> str:
    """Valid-looking YAML just under the document limit: the most parsing one request costs."""
    plan = "  - key: p{n}\n    name: Plan {n}\n    currency: USD\n    charges: []\n"
    parts, length, n = ["meters: []\nplans:\n"], 0, 0
    while length < size:
        parts.append(plan.format(n=n))
        length += len(parts[-1])
        n += 1
    return "".join(parts)


def probe(url: str, seconds: float) -> list[float]:
    """``/healthz`` every 20 ms for ``seconds``; the latency of each answer, in seconds."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
    return latencies


def figures(latencies: list[float]) -> str:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return (
        f"{len(ordered)} probes: median {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


def hostile(
    url: str, stop: threading.Event, send: Callable[[httpx.Client], httpx.Response], seen: list[int]
) -> None:
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        while not stop.is_set():
            try:
                seen.append(send(client).status_code)
            except httpx.TransportError:  # a 413 may close the socket mid-upload
                seen.append(413)
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="probe time per phase")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    heavy = heavy_but_legal_yaml()
    senders: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
        ("yaml 3,000 [", lambda c: c.put("/v1/catalog?dry_run=true", content=FLOW_3000, headers=YAML)),
        ("yaml depth 500", lambda c: c.put("/v1/catalog?dry_run=true", content=BLOCK_500, headers=YAML)),
        ("json 5,000 [", lambda c: c.put("/v1/catalog?dry_run=true", content=JSON_5000, headers=JSON)),
        ("4 MB body", lambda c: c.put("/v1/catalog?dry_run=true", content=FOUR_MB, headers=YAML)),
        ("250 KiB legal", lambda c: c.put("/v1/catalog?dry_run=true", content=heavy, headers=YAML)),
    ]  # fmt: skip
    with sqlite_store() as db_url:
        prepare_store(db_url)
        server = Server(db_url)
        try:
            idle = probe(server.url, args.seconds)
            print(f"/healthz idle (before):     {figures(idle)}")
            stop = threading.Event()
            seen: list[list[int]] = [[] for _ in senders]
            threads = [
                threading.Thread(target=hostile, args=(server.url, stop, send, got))
                for (_, send), got in zip(senders, seen, strict=True)
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.5)
            try:
                loaded = probe(server.url, args.seconds)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(120)
            print(f"/healthz under hostile load: {figures(loaded)}")
            for (name, _), got in zip(senders, seen, strict=True):
                print(f"  {name:>15}: {len(got)} requests, statuses {sorted(set(got))}")
            verdict = "met" if statistics.median(loaded) < 0.100 else "NOT met"
            print(f"target median < 100 ms under hostile load: {verdict}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
