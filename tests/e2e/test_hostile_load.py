"""Issue 17 item 1: ``/healthz`` keeps answering while hostile bodies are refused.

A real ``tallybook serve`` process; five clients keep sending the issue's reproductions (a
3,000-deep ``[`` YAML, a depth-500 YAML, a 5,000-deep JSON, a 4 MB body) and the heaviest
legal document (256 KiB of YAML plans, about 3,600 plans: a second of parsing and
validation) while a probe calls ``/healthz``. The test checks behaviour, not speed: every
hostile body gets its 4xx, every probe gets 200, and probes are answered *while* heavy
requests are in flight (before the fix one request held every answer for 9 s or 24 min).
The latency figures (median/p95/p99 against the idle baseline) are ``bench/hostile_load.py``'s
job; see docs/performance.md."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.integration.test_hostile_bodies import (
    BLOCK_500,
    FLOW_3000,
    FOUR_MB,
    JSON,
    JSON_5000,
    YAML,
)


def heavy_but_legal_yaml(size: int = 250 * 1024) -> str:
    """Valid-looking YAML just under the document limit: the most parsing one request costs."""
    plan = "  - key: p{n}\n    name: Plan {n}\n    currency: USD\n    charges: []\n"
    parts, length, n = ["meters: []\nplans:\n"], 0, 0
    while length < size:
        parts.append(plan.format(n=n))
        length += len(parts[-1])
        n += 1
    return "".join(parts)


def hostile(
    base_url: str,
    headers: dict[str, str],
    stop: threading.Event,
    send: Callable[[httpx.Client], httpx.Response],
    seen: list[int],
    spans: list[tuple[int, int]],
) -> None:
    """Send ``send`` until ``stop``; record each status and each request's (start, end) ns."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        while not stop.is_set():
            started = time.monotonic_ns()
            try:
                seen.append(send(client).status_code)
            except httpx.TransportError:  # a 413 may close the socket mid-upload
                seen.append(413)
            spans.append((started, time.monotonic_ns()))
            time.sleep(0.01)  # hostile, not a saturating flood (that is rate limiting's job)


def test_healthz_keeps_answering_while_hostile_bodies_are_refused(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handle = server(f"sqlite:///{tmp_path / 'hostile.db'}")
    heavy = heavy_but_legal_yaml()
    senders: list[Callable[[httpx.Client], httpx.Response]] = [
        lambda c: c.put("/v1/catalog?dry_run=true", content=FLOW_3000, headers=YAML),
        lambda c: c.put("/v1/catalog?dry_run=true", content=BLOCK_500, headers=YAML),
        lambda c: c.put("/v1/catalog?dry_run=true", content=JSON_5000, headers=JSON),
        lambda c: c.put("/v1/catalog?dry_run=true", content=FOUR_MB, headers=YAML),
        lambda c: c.put("/v1/catalog?dry_run=true", content=heavy, headers=YAML),
    ]
    stop = threading.Event()
    statuses: list[list[int]] = [[] for _ in senders]
    spans: list[list[tuple[int, int]]] = [[] for _ in senders]
    threads = [
        threading.Thread(
            target=hostile, args=(handle.base_url, handle.headers, stop, send, seen, span)
        )
        for send, seen, span in zip(senders, statuses, spans, strict=True)
    ]
    for thread in threads:
        thread.start()
    answered: list[int] = []  # monotonic ns at which each probe's 200 arrived
    try:
        with httpx.Client(base_url=handle.base_url, timeout=60) as probe:
            # Probe until the heavy legal document has been answered three times (each takes
            # a second or more of parsing), so the probes overlap its processing; bounded by
            # a count of probes, not by a clock.
            for _ in range(2000):
                assert probe.get("/healthz").status_code == 200
                answered.append(time.monotonic_ns())
                if len(spans[4]) >= 3 and len(answered) >= 25:
                    break
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    refused = [set(s) for s in statuses]
    assert refused[:3] == [{422}, {422}, {422}] and refused[3] == {413}, refused
    assert all(s and s <= {200, 201, 413, 422} for s in refused), refused
    assert len(spans[4]) >= 3, "the heavy legal document was not answered three times"
    # Probes answered while a heavy legal request was in flight: the server did not hold
    # every answer until the parse finished. Ordering, not timing.
    overlapping = [t for t in answered if any(start < t < end for start, end in spans[4])]
    assert overlapping, f"no probe was answered during any of {len(spans[4])} heavy requests"
