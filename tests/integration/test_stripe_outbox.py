"""Stripe sync driven by the outbox (both stores): the finalization transaction marks each
invoice for the provider, the outbox worker pushes marked invoices without the
scheduler, a worker killed with -9 leaves the rest due for the next one; idempotency
keys are ``tb:{tenant}:{invoice}:{op}``; two workers pushing two invoices of one new
customer at once create one Stripe customer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tallybook.adapters.store.schema_payments import provider_invoices
from tallybook.bootstrap import build
from tallybook.services.sync.calls import RetryPolicy
from tallybook.services.sync.push import SyncOptions
from tallybook.services.sync.worker import SyncingDeliveryWorker
from tests.conftest import TEST_KEY
from tests.integration.stripe_helpers import CATALOG, Env, bill, stripe_env, stripe_settings
from tests.stripe_standin import API_KEY, Running, running_standin


@pytest.fixture
def standin() -> Iterator[Running]:
    with running_standin() as running:
        yield running


@pytest.fixture
def env(db_url: str, standin: Running) -> Iterator[Env]:
    with stripe_env(db_url, standin) as made:
        yield made


def _rows(env: Env) -> dict[str, Any]:
    with env.container.engine.connect() as conn:
        found = conn.execute(select(provider_invoices)).all()
    return {row.invoice_id: row for row in found}


def _drain(env: Env) -> None:
    worker = env.container.delivery_worker()
    assert isinstance(worker, SyncingDeliveryWorker)
    asyncio.run(worker.drain())


def _keys(env: Env) -> list[str]:
    return sorted(key for _, key in env.standin.app.idempotency)


def test_finalizing_marks_the_invoice_and_the_outbox_worker_pushes_it(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly", "zeta": "monthly"})
    ids = {invoice["id"] for invoice in invoices}
    rows = _rows(env)  # written with the invoice.finalized fact, before any push
    assert set(rows) == ids
    assert all((r.status, r.attempts, r.remote_id) == ("pending", 0, None) for r in rows.values())
    assert env.standin.state.requests == []

    _drain(env)  # the worker alone: no scheduler pass, no `tallybook sync stripe`
    state = env.standin.state
    assert len(state.invoices) == 2 and len(state.customers) == 2
    for invoice in invoices:
        shown = env.client.get(f"/v1/invoices/{invoice['id']}").json()
        assert shown["external"]["stripe"]["status"] == "synced"
        remote = state.invoice(shown["external"]["stripe"]["id"])
        assert remote["status"] == "open" and remote["total"] == 2100
    # every key in the contract's form tb:{tenant}:{invoice}:{op}[:{line}]
    expected = sorted(
        f"tb:default:{invoice_id}:{op}"
        for invoice_id in ids
        for op in ("customer", "invoice", "item:0", "item:1", "finalize")
    )
    assert _keys(env) == expected
    # nothing is due any more: neither the worker nor the sweep pushes again
    _drain(env)
    assert env.payments.sync.sync("default").synced == 0
    assert len(state.invoices) == 2 and len(state.items) == 4


def test_the_running_worker_pushes_a_new_invoice_without_the_scheduler(env: Env) -> None:
    worker = env.container.delivery_worker()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def serve() -> None:
        loop.run_until_complete(worker.run(stop))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        invoices = bill(env.client, {"acme": "monthly"})
        deadline = time.monotonic() + 30  # a hang guard, not a speed claim
        status = None
        while time.monotonic() < deadline:
            shown = env.client.get(f"/v1/invoices/{invoices[0]['id']}").json()
            status = shown["external"]["stripe"]["status"]
            if status == "synced":
                break
            time.sleep(0.05)
        assert status == "synced"
        assert len(env.standin.state.invoices_for(invoices[0]["id"])) == 1
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
    assert not thread.is_alive()


def test_a_void_marks_a_synced_invoice_and_the_worker_voids_it_in_stripe(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly", "zeta": "monthly"})
    _drain(env)
    voided = invoices[0]["id"]
    assert env.client.post(f"/v1/invoices/{voided}/void").status_code == 200
    row = _rows(env)[voided]
    assert (row.status, row.remote_id is not None) == ("pending", True)
    _drain(env)
    remote = env.standin.state.invoices_for(voided)
    assert [r["status"] for r in remote] == ["void"]
    assert f"tb:default:{voided}:void" in _keys(env)
    shown = env.client.get(f"/v1/invoices/{voided}").json()["external"]["stripe"]
    assert shown["status"] == "synced"


def test_an_invoice_voided_or_paid_before_its_push_is_never_pushed(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly", "zeta": "monthly", "omega": "monthly"})
    voided, paid, kept = (invoice["id"] for invoice in invoices)
    assert env.client.post(f"/v1/invoices/{voided}/void").status_code == 200
    assert env.client.post(f"/v1/invoices/{paid}/pay").status_code == 200
    assert set(_rows(env)) == {kept}  # the marks went with the void / payment
    _drain(env)
    state = env.standin.state
    assert state.invoices_for(voided) == [] and state.invoices_for(paid) == []
    assert len(state.invoices_for(kept)) == 1
    assert env.payments.sync.sync("default").synced == 0  # the sweep agrees


def test_a_worker_stopped_before_the_push_leaves_the_invoice_due(
    db_url: str, standin: Running
) -> None:
    """The mark is committed with the fact: a process that dies before pushing (here:
    closed without pushing) leaves it to the next worker."""
    with stripe_env(db_url, standin) as first:
        invoices = bill(first.client, {"acme": "monthly"})
    assert standin.state.requests == []
    with stripe_env(db_url, standin) as second:
        _drain(second)
        assert len(standin.state.invoices_for(invoices[0]["id"])) == 1


def test_two_workers_create_one_stripe_customer_for_two_invoices_at_once(
    db_url: str, standin: Running
) -> None:
    """Two containers (as two processes) push two invoices of one new customer at the
    same moment; the search is slowed so both would look before either creates. The
    customer lease in the database lets one create and the other find its id."""
    with stripe_env(db_url, standin) as env:
        bill(env.client, {"acme": "monthly"})
        run = env.client.post("/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"})
        assert run.status_code == 200, run.text
        found = env.client.get("/v1/invoices", params={"customer": "acme", "limit": 10})
        ids = sorted(i["id"] for i in found.json()["data"] if i["status"] == "finalized")
        assert len(ids) == 2
        other = build(stripe_settings(db_url, standin))
        assert other.payments is not None
        other.payments.sync.options = SyncOptions(
            concurrency=1, policy=RetryPolicy(attempts=4, base=0, max_wait=5)
        )
        search = standin.state.search

        def slow_search(*args: Any, **kwargs: Any) -> dict[str, Any]:
            time.sleep(0.3)
            return search(*args, **kwargs)

        standin.state.search = slow_search  # type: ignore[method-assign]
        barrier = threading.Barrier(2)
        outcomes: list[Any] = []

        def push(container: Any, invoice_id: str) -> None:
            barrier.wait(10)
            outcomes.append(container.payments.sync.push_now("default", invoice_id))

        threads = [
            threading.Thread(target=push, args=(env.container, ids[0])),
            threading.Thread(target=push, args=(other, ids[1])),
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            other.close()
        assert [row.status.value for row in outcomes] == ["synced", "synced"]
        assert len(standin.state.customers) == 1
        remote = [standin.state.invoices_for(i)[0] for i in ids]
        assert remote[0]["customer"] == remote[1]["customer"]
        creates = [key for _, key in standin.app.idempotency if key.endswith(":customer")]
        assert len(creates) == 1 and creates[0] in {f"tb:default:{i}:customer" for i in ids}


CUSTOMERS, MONTHS = 30, 6  # 180 invoices


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_of_the_outbox_worker_mid_push_then_restart_pushes_each_once(
    db_url: str,
) -> None:
    with running_standin() as standin:
        with stripe_env(db_url, standin) as env:
            c = env.container
            c.catalog.apply("default", CATALOG)
            start = datetime(2025, 7, 1, tzinfo=UTC)
            for n in range(CUSTOMERS):
                customer = f"c{n:04d}"
                c.customers.create("default", customer, currency="USD")
                c.subscriptions.create("default", customer, "monthly", start=start)
            c.billing.run("default", datetime(2026, 1, 1, 2, tzinfo=UTC))
            page = c.invoices.list("default", limit=1000)
            local = {i.id: i.totals.total for i in page.items}
            assert len(local) == CUSTOMERS * MONTHS
            assert len(_rows(env)) == len(local)  # every one marked with its fact

        environment = {k: v for k, v in os.environ.items() if not k.startswith("TALLYBOOK_")}
        environment.update(
            {
                "TALLYBOOK_DATABASE_URL": db_url,
                "TALLYBOOK_API_KEY": TEST_KEY,
                "TALLYBOOK_STRIPE_API_KEY": API_KEY,
                "TALLYBOOK_STRIPE_API_BASE": standin.url,
                "TALLYBOOK_STRIPE_LEASE_SECONDS": "5",
                "TALLYBOOK_STRIPE_TIMEOUT_SECONDS": "10",
                "TALLYBOOK_STRIPE_CONCURRENCY": "4",
                "TALLYBOOK_LOG_JSON": "false",
            }
        )

        def worker(*extra: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "tallybook.cli", "worker", *extra],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

        first = worker()
        deadline = time.monotonic() + 120
        while len(standin.state.invoices) < 20:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert len(standin.state.invoices) < len(local)  # killed mid-way

        time.sleep(5.5)  # the killed worker's leases end
        second = worker("--once")
        _, errors = second.communicate(timeout=300)
        assert second.returncode == 0, errors.decode()[-2000:]

        remote: dict[str, list[dict[str, Any]]] = {}
        for invoice in standin.state.invoices.values():
            remote.setdefault(str(invoice["metadata"]["tallybook_invoice"]), []).append(invoice)
        assert set(remote) == set(local)
        assert all(len(found) == 1 for found in remote.values())  # exactly once each
        totals = {k: Decimal(int(str(v[0]["total"]))).scaleb(-2) for k, v in remote.items()}
        assert totals == local
        assert all(v[0]["status"] == "open" for v in remote.values())
        assert len(standin.state.customers) == CUSTOMERS


def test_a_customer_lease_is_exclusive_ends_with_the_saved_id_and_lapses(env: Env) -> None:
    store = env.payments.sync.store
    now = datetime(2026, 3, 1, tzinfo=UTC)
    until = now + timedelta(seconds=300)
    first = store.claim_customer("stripe", "default", "acme", now, until)
    assert first is not None
    assert store.claim_customer("stripe", "default", "acme", now, until) is None
    assert store.claim_customer("stripe", "default", "zeta", now, until) is not None
    # a holder killed with its lease: the next worker takes over once it has lapsed
    later = store.claim_customer("stripe", "default", "acme", until, until + timedelta(1))
    assert later is not None and later != first
    store.release_customer("stripe", "default", "acme", first)  # stale token: no effect
    assert store.claim_customer("stripe", "default", "acme", until, until) is None
    # saving the remote id ends the lease in the same transaction
    assert store.save_customer("stripe", "default", "acme", "cus_1", until, later) == "cus_1"
    assert store.claim_customer("stripe", "default", "acme", until, until) is not None
