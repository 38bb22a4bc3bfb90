"""The README's tour, run as written against ``tallybook serve --demo`` (``make run``)
(issue 17, item 10).

Reproduction: the tour redefined the demo's ``api_calls`` meter and ``growth`` plan, and
the demo customer's usage dropped to 0. Here every shell block of the tour runs with
bash and curl, the Python snippet with this interpreter, and the demo must be unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import _command, free_port

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def tour_blocks(language: str) -> list[str]:
    text = README.read_text()
    tour = text[text.index("## A two-minute tour") : text.index("## Documentation")]
    return re.findall(rf"```{language}\n(.*?)```", tour, re.S)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("curl is needed to run the README's commands")
        pytest.skip("curl not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYBOOK_")}
    env |= {
        "TALLYBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "TALLYBOOK_LOG_JSON": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_command(), "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.3)
        else:
            pytest.fail(f"server did not start: {log.read_text()[-3000:]}")
        found = re.search(r"API key \(demo key[^)]*\): (tb_\S+)", log.read_text())
        assert found is not None, log.read_text()
        yield base, found[1]
    finally:
        process.terminate()
        process.wait(timeout=20)


def demo_usage(api: httpx.Client) -> dict[str, str]:
    usage = api.get("/v1/customers/acme/usage").json()
    return {c["charge"]: c["used"] for c in usage["charges"]}


def test_the_readme_tour_works_and_leaves_the_demo_alone(demo_server: tuple[str, str]) -> None:
    base, key = demo_server
    port = base.rsplit(":", 1)[1]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as api:
        before = demo_usage(api)
        assert float(before["api"]) > 0
        outputs: list[Any] = []
        for block in tour_blocks("bash"):
            script = block.replace("localhost:8080", f"127.0.0.1:{port}")
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                env={**os.environ, "KEY": key},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, (block, run.stderr)
            assert '"error"' not in run.stdout, (block, run.stdout)
            outputs.append(run.stdout)
        assert '"accepted":2' in outputs[1]
        invoices = api.get("/v1/invoices", params={"customer": "c1"}).json()["data"]
        january = [i for i in invoices if i["period_start"].startswith("2026-01-01")]
        assert [i["total"] for i in january] == ["410.00"]
        (python,) = tour_blocks("python")
        snippet = python.replace('"tb_..."', repr(key)).replace(":8080", f":{port}")
        run = subprocess.run(
            [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        events = api.get("/v1/events", params={"customer": "c1"}).json()["data"]
        assert len(events) == 3
        after = demo_usage(api)
        assert float(after["api"]) >= float(before["api"]) and after.keys() == before.keys()
        catalog_plans = {p["key"] for p in api.get("/v1/plans").json()["data"]}
        assert {"growth", "hybrid"} <= catalog_plans
