"""Parallel billing runs never make a second invoice for a period, and numbers stay gapless.

SQLite: several threads run at once against one database file (writers serialise on
``BEGIN IMMEDIATE``). PostgreSQL: several engines (as several server processes would
have) in threads, and several OS processes, claim accounts with ``FOR UPDATE SKIP
LOCKED``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.billing_invoices import InvoiceStore
from tallybook.adapters.store.schema_billing import invoice_slots, invoices
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.services.tenants import DEFAULT_TENANT

T = DEFAULT_TENANT
CUSTOMERS = 60
AS_OF = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "hybrid",
            "name": "Hybrid",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "10.00", "timing": "in_advance"},
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "1.00",
                },
            ],
        }
    ],
}
# Per customer: an opening invoice (January fee) and January, February, March invoices.
EXPECTED_INVOICES = CUSTOMERS * 4


def _container(url: str) -> Container:
    settings = Settings(database_url=url, log_json=False, scheduler_interval_seconds=0)
    container = build(settings, clock=FixedClock(AS_OF))
    container.billing.chunk_size = 7  # many small claims, so the runs interleave
    return container


def _seed(container: Container) -> None:
    container.tenants.ensure_tenant(T)
    container.catalog.apply(T, CATALOG)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = []
    for n in range(CUSTOMERS):
        customer = f"cust{n:03d}"
        container.customers.create(T, customer, currency="USD")
        container.subscriptions.create(T, customer, "hybrid", start=start)
        events += [
            {
                "id": f"{customer}-{k}",
                "customer": customer,
                "type": "call",
                "timestamp": f"2026-0{1 + k % 3}-1{k % 9}T00:00:00Z",
            }
            for k in range(n % 5)
        ]
    container.ingest.ingest(T, events)


def _run(url: str, barrier: Any, results: list[Any]) -> None:
    container = _container(url)
    try:
        barrier.wait()
        results.append(container.billing.run(T, AS_OF))
    finally:
        container.close()


def _check(container: Container) -> None:
    with container.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(invoices).where(invoices.c.tenant_id == T)
        ).scalar_one()
        slots = list(
            conn.execute(
                select(
                    invoice_slots.c.subscription_id,
                    invoice_slots.c.kind,
                    invoice_slots.c.period_start,
                )
            )
        )
    assert count == EXPECTED_INVOICES
    assert len(slots) == EXPECTED_INVOICES
    assert max(Counter(slots).values()) == 1
    numbers = InvoiceStore(container.engine).numbers(T)
    assert numbers == list(range(1, EXPECTED_INVOICES + 1)), "numbers must be gapless"


def _threads(url: str, runners: int) -> list[Any]:
    barrier = threading.Barrier(runners)
    results: list[Any] = []
    threads = [threading.Thread(target=_run, args=(url, barrier, results)) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == runners
    return results


def test_parallel_runs_on_one_sqlite_file(sqlite_url: str) -> None:
    seeded = _container(sqlite_url)
    _seed(seeded)
    results = _threads(sqlite_url, 4)
    assert sum(r.created for r in results) == EXPECTED_INVOICES
    assert sum(r.finalized for r in results) == EXPECTED_INVOICES
    _check(seeded)
    again = seeded.billing.run(T, AS_OF)
    assert (again.created, again.updated, again.finalized) == (0, 0, 0)
    seeded.close()


@pytest.mark.postgres
def test_parallel_runs_with_several_engines_on_postgres(pg_url: str) -> None:
    seeded = _container(pg_url)
    _seed(seeded)
    results = _threads(pg_url, 4)
    assert sum(r.created for r in results) == EXPECTED_INVOICES
    assert sum(1 for r in results if r.created) > 1, "the runs should share the work"
    _check(seeded)
    seeded.close()


@pytest.mark.postgres
def test_parallel_runs_in_several_processes_on_postgres(pg_url: str) -> None:
    seeded = _container(pg_url)
    _seed(seeded)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    manager = context.Manager()
    results = manager.list()
    processes = [context.Process(target=_run, args=(pg_url, barrier, results)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    assert sum(r.created for r in results) == EXPECTED_INVOICES
    _check(seeded)
    manager.shutdown()
    seeded.close()
