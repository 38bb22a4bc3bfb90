"""The server's own schedule: the billing job closes due periods as of the clock's now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tallybook.adapters.clock import FixedClock
from tallybook.bootstrap import build
from tallybook.config import Settings
from tallybook.domain.errors import ValidationError
from tallybook.services.scheduler import Scheduler
from tests.integration.test_billing_concurrency import CATALOG


def test_the_scheduled_job_bills_every_due_tenant_as_of_now(db_url: str) -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    container = build(Settings(database_url=db_url, log_json=False), clock=clock)
    assert Scheduler(container).jobs == [container.billing.run_due]
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
