"""End-to-end fixtures: a real ``tallybook serve`` process on 127.0.0.1.

``server`` is a factory: ``server(db_url)`` starts the CLI on a free port against that
database (a SQLite file URL or a PostgreSQL URL, e.g. the ``db_url`` fixture), with
``TALLYBOOK_API_KEY`` set, waits until ``/readyz`` answers 200 and returns a
``RunningServer``. It unpacks as ``base_url, api_key, handle = server(db_url)``; the handle
can ``kill()`` (SIGKILL), ``stop()`` (SIGTERM), ``start()`` again and ``restart()`` on the
same port and database. Every server is stopped when the test ends; its output is in
``handle.log_path`` and shown when it fails to start.

    def test_something(server, db_url):
        base_url, api_key, handle = server(db_url)
        httpx.post(f"{base_url}/v1/events", headers={"Authorization": f"Bearer {api_key}"}, ...)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

E2E_KEY = "tb_e2e_key_0123456789abcdef0123456789abcdef"
START_TIMEOUT = (
    90.0  # a hang guard: a fresh server takes ~20 s to be ready on a loaded 2-core machine
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("tallybook")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tallybook.cli"]


@dataclass
class RunningServer:
    db_url: str
    port: int
    log_path: Path
    api_key: str = E2E_KEY
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def __iter__(self) -> Iterator[Any]:
        return iter((self.base_url, self.api_key, self))

    def start(self, timeout: float = START_TIMEOUT) -> RunningServer:
        if self.running:
            raise RuntimeError("server already running")
        env = {
            **os.environ,
            "TALLYBOOK_DATABASE_URL": self.db_url,
            "TALLYBOOK_API_KEY": self.api_key,
            "TALLYBOOK_LOG_JSON": "false",
            **self.env,
        }
        cmd = [*_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"server exited during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what is not committed is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, *, hard: bool = True) -> RunningServer:
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no output)"


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real servers: ``server(db_url, env={...}, start=True)``."""
    started: list[RunningServer] = []

    def start(
        db_url: str, *, env: Mapping[str, str] | None = None, start: bool = True
    ) -> RunningServer:
        handle = RunningServer(
            db_url=db_url,
            port=free_port(),
            log_path=tmp_path / f"server-{len(started)}.log",
            env=dict(env or {}),
        )
        started.append(handle)
        return handle.start() if start else handle

    yield start
    for handle in started:
        handle.stop()
