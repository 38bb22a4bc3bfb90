"""Shared helpers for the benchmarks: realistic events, throwaway stores, a server process.

Nothing here is timed; the benchmarks time what they measure themselves.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tallybook.adapters.store.db import normalize_url

BENCH_KEY = "tb_bench_key_0123456789abcdef0123456789abcdef"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:55432/postgres"
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
TYPES = ("llm_completion", "api_call", "storage_gb")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, Python {sys.version.split()[0]}"


def time_ordered_id(millis: int, seq: int) -> str:
    """uuid7-like: a millisecond timestamp prefix then a counter, so keys arrive sorted."""
    return f"evt_{millis:012x}{seq:012x}"


def make_event(seq: int, rng: random.Random, customers: int, now: datetime) -> dict[str, Any]:
    at = now + timedelta(microseconds=seq * 50)
    return {
        "id": time_ordered_id(int(at.timestamp() * 1000), seq),
        "customer": f"cust_{rng.randrange(customers):05d}",
        "type": TYPES[seq % 3],
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "properties": {
            "tokens": rng.randrange(1, 8000),
            "model": MODELS[rng.randrange(4)],
            "region": REGIONS[rng.randrange(3)],
            "latency_ms": rng.randrange(20, 3000),
            "request_id": f"req_{rng.getrandbits(48):012x}",
        },
    }


def make_batches(
    batches: int, batch_size: int, *, customers: int = 1000, seed: int = 7, first: int = 0
) -> list[list[dict[str, Any]]]:
    """``batches`` lists of ``batch_size`` distinct, time-ordered events stamped about now."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=1)
    seq = first
    out = []
    for _ in range(batches):
        out.append([make_event(seq + i, rng, customers, now) for i in range(batch_size)])
        seq += batch_size
    return out


def encode(batch: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(batch)


@contextmanager
def sqlite_store() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="tallybook-bench-"))
    try:
        yield f"sqlite:///{folder / 'bench.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_store(admin_url: str) -> Iterator[str]:
    admin = normalize_url(admin_url)
    name = f"tb_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def prepare_store(db_url: str) -> None:
    """Migrate and register the benchmark key (what ``tallybook serve`` does on start)."""
    from tallybook.bootstrap import build
    from tallybook.config import Settings

    container = build(Settings(database_url=db_url, api_key=BENCH_KEY, log_json=False))
    container.tenants.bootstrap_default(BENCH_KEY)
    container.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn (uvloop + httptools) serving ``create_app()`` with N worker processes."""

    def __init__(self, db_url: str, workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TALLYBOOK_DATABASE_URL": db_url,
            "TALLYBOOK_LOG_JSON": "false",
            "TALLYBOOK_LOG_LEVEL": "WARNING",
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "tallybook.api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(cmd, env=env)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited during start-up")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not ready")

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            kids = [int(p) for p in children.read_text().split()]
        except OSError:
            kids = []
        return kids or [self.process.pid]

    def cpu_seconds(self) -> float:
        """User + system CPU consumed so far by the serving process(es)."""
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the serving process(es), largest one."""
        peaks = []
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                pass
        return max(peaks, default=0.0)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
