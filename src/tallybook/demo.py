"""Demo data for ``make run`` / ``tallybook serve --demo``.

Seeds the default tenant, once, with a small hybrid-pricing catalog, three customers
subscribed since the start of the month two months ago, ~75 days of realistic usage up
to now, and a billing run so closed months already have invoices. Everything goes
through the same services as the API. The demo key is kept in ``.tallybook-demo-key``
(mode 600, git-ignored) so every ``make run`` can print it again.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tallybook.bootstrap import Container
from tallybook.domain.errors import Unauthorized
from tallybook.services.tenants import DEFAULT_TENANT

KEY_FILE = Path(".tallybook-demo-key")

CATALOG: dict[str, Any] = {
    "meters": [
        {"key": "api_calls", "event_type": "api_request", "aggregation": "count"},
        {
            "key": "tokens",
            "event_type": "llm_completion",
            "aggregation": "sum",
            "value": "usage.tokens",
            "group_by": ["model"],
        },
        {
            "key": "storage_gb",
            "event_type": "storage_snapshot",
            "aggregation": "time_weighted_average",
            "value": "gb",
        },
    ],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "minimum_spend": "250.00",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "200.00", "timing": "in_advance"},
                {
                    "key": "seats",
                    "type": "flat",
                    "unit_amount": "10.00",
                    "quantity_key": "seats",
                    "timing": "in_advance",
                },
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "included": 1000,
                    "model": "per_unit",
                    "unit_amount": "0.003",
                },
                {
                    "key": "tokens",
                    "type": "usage",
                    "meter": "tokens",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": 100000, "unit_amount": "0.00002"},
                        {"up_to": None, "unit_amount": "0.00001"},
                    ],
                },
                {
                    "key": "storage",
                    "type": "usage",
                    "meter": "storage_gb",
                    "included": 10,
                    "model": "per_unit",
                    "unit_amount": "0.25",
                },
            ],
        }
    ],
}

CUSTOMERS = (
    ("acme", "Acme Corp", "America/New_York", 5, 1.0),
    ("globex", "Globex", "Europe/Paris", 12, 2.5),
    ("initech", "Initech", "UTC", 3, 0.4),
)


def seed_demo(container: Container) -> str:
    """Seed once; return an API key for the default tenant to print."""
    container.tenants.ensure_tenant(DEFAULT_TENANT, "Default")
    key = _demo_key(container)
    if container.customers.page(DEFAULT_TENANT, limit=1):
        return key
    now = container.clock.now()
    container.catalog.apply(DEFAULT_TENANT, CATALOG)
    rng = random.Random(7)
    for customer_id, name, tz, seats, scale in CUSTOMERS:
        start = _month_start(now, tz, back=2)
        container.customers.create(
            DEFAULT_TENANT,
            customer_id,
            currency="USD",
            timezone=tz,
            name=name,
            email=f"billing@{customer_id}.example",
        )
        container.subscriptions.create(
            DEFAULT_TENANT,
            customer_id,
            "growth",
            start=start,
            quantities={"seats": Decimal(seats)},
        )
        events = list(_usage(customer_id, start, now, scale, rng))
        for offset in range(0, len(events), 5000):
            container.ingest.ingest(DEFAULT_TENANT, events[offset : offset + 5000])
    container.billing.run(DEFAULT_TENANT, now)
    return key


def _demo_key(container: Container) -> str:
    if KEY_FILE.exists():
        stored = KEY_FILE.read_text().strip()
        try:
            if container.tenants.authenticate(stored) == DEFAULT_TENANT:
                return stored
        except Unauthorized:
            pass
    key = container.tenants.create_key(DEFAULT_TENANT, "demo (make run)").key
    KEY_FILE.write_text(key + "\n")
    os.chmod(KEY_FILE, 0o600)
    return key


def _month_start(now: datetime, tz: str, back: int) -> datetime:
    """Local midnight on the 1st, ``back`` months before ``now``'s month, in UTC."""
    local = now.astimezone(ZoneInfo(tz))
    year, month = local.year, local.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _usage(
    customer: str, start: datetime, end: datetime, scale: float, rng: random.Random
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    hours = int((end - start).total_seconds() // 3600)
    for hour in range(hours):
        at = start + timedelta(hours=hour)
        busy = 0.3 + 0.7 * (8 <= at.hour <= 20)
        for n in range(int(rng.randint(0, 3) * busy * scale) + 1):
            stamp = at + timedelta(minutes=rng.randint(0, 59), seconds=n)
            events.append(_event(f"{customer}-api-{hour}-{n}", customer, "api_request", stamp, {}))
        if hour % 3 == 0:
            tokens = {"tokens": int(rng.randint(200, 4000) * scale)}
            props = {"model": rng.choice(["small", "large"]), "usage": tokens}
            events.append(_event(f"{customer}-llm-{hour}", customer, "llm_completion", at, props))
        if hour % 24 == 0:
            gb = {"gb": f"{Decimal(8) + Decimal(str(scale)) * hour / 90:.2f}"}
            events.append(_event(f"{customer}-gb-{hour}", customer, "storage_snapshot", at, gb))
    return events


def _event(
    event_id: str, customer: str, event_type: str, at: datetime, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "customer": customer,
        "type": event_type,
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": properties,
    }
