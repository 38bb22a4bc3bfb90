"""Issue 17 item 2: one scheduled pass bills every due tenant, and one failing tenant
(or account) never stops the others. Logging runs at INFO, as under ``tallybook serve``,
so a log call whose ``extra`` collides with a ``LogRecord`` attribute would raise here."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_billing import invoices, subscriptions
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.integration.test_billing_concurrency import CATALOG

TENANTS = ("t1", "t2", "t3")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def three_tenants(db_url: str, clock: FixedClock) -> Iterator[Container]:
    container = build(Settings(database_url=db_url, log_json=False), clock=clock)
    for tenant in TENANTS:
        container.tenants.ensure_tenant(tenant)
        container.catalog.apply(tenant, CATALOG)
        for customer in ("a", "b", "c"):
            container.customers.create(tenant, customer, currency="USD")
            container.subscriptions.create(tenant, customer, "hybrid", start=clock.now())
    yield container
    container.close()


def invoice_counts(container: Container) -> dict[str, int]:
    stmt = select(invoices.c.tenant_id, func.count()).group_by(invoices.c.tenant_id)
    with container.engine.connect() as conn:
        found = {tenant: int(n) for tenant, n in conn.execute(stmt)}
    return {tenant: found.get(tenant, 0) for tenant in TENANTS}


def test_three_due_tenants_are_all_billed_in_one_tick(
    three_tenants: Container, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the level `tallybook serve` logs at
    clock.set(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))  # January's drafts are in grace
    results = three_tenants.billing.run_due()
    assert sorted(r.tenant_id for r in results) == list(TENANTS)
    assert invoice_counts(three_tenants) == {"t1": 6, "t2": 6, "t3": 6}
    runs = [r for r in caplog.records if r.getMessage() == "billing run"]
    assert sorted(getattr(r, "tenant") for r in runs) == list(TENANTS)  # noqa: B009
    assert three_tenants.billing.last_pass is not None
    assert three_tenants.billing.last_pass.failed == []
    # still due (drafts in grace): the next tick reaches every tenant again
    clock.set(datetime(2026, 2, 1, 1, 0, tzinfo=UTC))
    assert sorted(r.tenant_id for r in three_tenants.billing.run_due()) == list(TENANTS)


def test_a_failing_tenant_does_not_starve_the_others(
    three_tenants: Container, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # t1 (billed first) holds a subscription row that cannot even be read back
    with three_tenants.engine.begin() as conn:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.tenant_id == "t1", subscriptions.c.customer_id == "a")
            .values(schedule={"phases": "not a list"})
        )
    clock.set(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    for _tick in range(2):  # it stays due and fails every tick; the others are billed
        results = three_tenants.billing.run_due()
        assert sorted(r.tenant_id for r in results) == ["t2", "t3"]
        last = three_tenants.billing.last_pass
        assert last is not None and (last.billed, last.failed) == (2, ["t1"])
    assert invoice_counts(three_tenants) == {"t1": 0, "t2": 6, "t3": 6}
    failures = [r for r in caplog.records if r.getMessage() == "billing run failed"]
    assert failures and all(getattr(r, "tenant") == "t1" for r in failures)  # noqa: B009
    assert all(r.exc_info for r in failures)
