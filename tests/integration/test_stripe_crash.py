"""Kill -9 in the middle of ``tallybook sync stripe`` over 2,004 invoices (167 customers
x 12 months), then run it again: every invoice exists exactly once in Stripe and the
totals are equal (both stores; the sync runs in a subprocess against the stand-in of
this process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.integration.stripe_helpers import CATALOG, stripe_env
from tests.stripe_standin import API_KEY, running_standin

CUSTOMERS = 167  # x 12 monthly invoices (2025) = 2,004 invoices
MONTHS = 12
# about a minute per store on a quiet 2-core machine (several under load): about 6,500
# requests to the stand-in from the sync processes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _environment(db_url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYBOOK_")}
    env.update(
        {
            "TALLYBOOK_DATABASE_URL": db_url,
            "TALLYBOOK_STRIPE_API_KEY": API_KEY,
            "TALLYBOOK_STRIPE_API_BASE": base,
            "TALLYBOOK_STRIPE_LEASE_SECONDS": "5",
            "TALLYBOOK_STRIPE_TIMEOUT_SECONDS": "10",
            "TALLYBOOK_STRIPE_CONCURRENCY": "8",
            "TALLYBOOK_LOG_JSON": "false",
        }
    )
    return env


def _sync(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tallybook.cli", "sync", "stripe"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_sync_then_restart_pushes_each_invoice_exactly_once(db_url: str) -> None:
    with running_standin() as standin:
        with stripe_env(db_url, standin) as env:
            c = env.container
            c.catalog.apply("default", CATALOG)
            start = datetime(2025, 1, 1, tzinfo=UTC)
            for n in range(CUSTOMERS):
                customer = f"c{n:04d}"
                c.customers.create("default", customer, currency="USD")
                c.subscriptions.create("default", customer, "monthly", start=start)
            c.billing.run("default", datetime(2026, 1, 1, 2, tzinfo=UTC))
            page = c.invoices.list("default", limit=1000)
            local = {i.id: i.totals.total for i in page.items}
            while page.next_cursor:
                page = c.invoices.list("default", limit=1000, cursor=page.next_cursor)
                local.update({i.id: i.totals.total for i in page.items})
            assert len(local) == CUSTOMERS * MONTHS >= 2000

        environment = _environment(db_url, standin.url)
        first = _sync(environment)
        deadline = time.monotonic() + 120
        while len(standin.state.invoices) < 300:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the sync made no progress"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        pushed_before = len(standin.state.invoices)
        assert pushed_before < len(local)  # killed mid-way

        time.sleep(5.5)  # the killed worker's leases end
        second = _sync(environment)
        _, errors = second.communicate(timeout=600)
        assert second.returncode == 0, errors.decode()[-2000:]

        remote: dict[str, list[dict[str, object]]] = {}
        for invoice in standin.state.invoices.values():
            remote.setdefault(str(invoice["metadata"]["tallybook_invoice"]), []).append(invoice)
        assert set(remote) == set(local)
        assert all(len(found) == 1 for found in remote.values())  # exactly once each
        totals = {k: Decimal(int(str(v[0]["total"]))).scaleb(-2) for k, v in remote.items()}
        assert totals == local
        assert all(v[0]["status"] == "open" for v in remote.values())
        assert len(standin.state.customers) == CUSTOMERS  # one Stripe customer each
        lines = sum(len(standin.state.lines[i]) for i in standin.state.invoices)
        assert lines == len(local)  # one item per (flat) line, none twice
