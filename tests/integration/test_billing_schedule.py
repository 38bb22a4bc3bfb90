"""The server's own schedule: the billing job closes due periods as of the clock's now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_billing import subscriptions
from tallybook.adapters.store.subscriptions import schedule_document
from tallybook.bootstrap import build
from tallybook.config import Settings
from tallybook.domain.errors import ValidationError
from tallybook.services.scheduler import Scheduler
from tests.integration.test_billing_concurrency import CATALOG


def test_the_scheduled_job_bills_every_due_tenant_as_of_now(db_url: str) -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    container = build(Settings(database_url=db_url, log_json=False), clock=clock)
    assert container.ledger is not None
    jobs = Scheduler(container).jobs  # spend limits are swept after billing and top-ups
    assert jobs == [
        container.billing.run_due,
        container.mrr_snapshots.refresh_due,  # after billing: its invoices show at once
        container.top_ups.run_due,
        container.spend_limits.sweep,
        container.ledger.run,  # last: event-ledger partitions and retention
    ]
    for tenant in ("t1", "t2"):
        container.tenants.ensure_tenant(tenant)
        container.catalog.apply(tenant, CATALOG)
        container.customers.create(tenant, "c", currency="USD")
        container.subscriptions.create(tenant, "c", "hybrid", start=clock.now())
    clock.set(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    results = container.billing.run_due()
    assert sorted((r.tenant_id, r.created, r.finalized) for r in results) == [
        ("t1", 2, 1),  # the opening invoice is final, January is in its grace period
        ("t2", 2, 1),
    ]
    clock.set(datetime(2026, 2, 1, 1, 0, tzinfo=UTC))
    assert [(r.created, r.finalized) for r in container.billing.run_due()] == [(0, 1), (0, 1)]
    assert container.billing.run_due() == []  # nothing due until March
    with pytest.raises(ValidationError) as future:
        container.billing.run("t1", datetime(2026, 3, 1, tzinfo=UTC))
    assert future.value.code == "as_of_in_future"
    container.close()


def test_an_account_that_cannot_be_billed_does_not_stop_the_others(db_url: str) -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    container = build(Settings(database_url=db_url, log_json=False), clock=clock)
    container.tenants.ensure_tenant("t")
    container.catalog.apply("t", CATALOG)
    for customer in ("good", "broken"):
        container.customers.create("t", customer, currency="USD")
        container.subscriptions.create("t", customer, "hybrid", start=clock.now())
    broken = container.subscriptions.page("t", customer="broken")[0]
    schedule = schedule_document(broken.subscription)
    schedule["phases"] = [{**schedule["phases"][0], "version": 99}]
    with container.engine.begin() as conn:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == broken.subscription.id)
            .values(schedule=schedule)
        )
    clock.set(datetime(2026, 2, 1, 2, 0, tzinfo=UTC))
    result = container.billing.run("t")
    assert (result.failed, result.created, result.finalized) == (1, 2, 2)
    again = container.billing.run("t")
    assert (again.failed, again.created) == (1, 0)  # still due: retried by every run
    container.close()
