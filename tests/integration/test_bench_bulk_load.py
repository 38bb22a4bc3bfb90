"""The bench's bulk loader (``bench/bulk_events.py``) writes the same events into
PostgreSQL's ledger and chDB: equal counts and sums per customer in both stores, through
the loader's own checks and through the product's usage readers on each store."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import text

from tallybook.adapters.store import ledger_partitions as ledger
from tallybook.bootstrap import build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter


def _bench_module(name: str) -> ModuleType:
    """A module of ``bench/`` loaded from its file: putting ``bench/`` on ``sys.path`` would
    shadow installed packages for every later test (``bench/stripe.py`` hid the ``stripe``
    package from the Stripe stand-in's tests)."""
    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tallybook_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_bulk = _bench_module("bulk_events")
EVENT_TYPE, WHALE = _bulk.EVENT_TYPE, _bulk.WHALE
chdb_aggregates, load = _bulk.chdb_aggregates, _bulk.load
month_events, pg_aggregates = _bulk.month_events, _bulk.pg_aggregates

pytestmark = pytest.mark.postgres
TENANT = "default"
KEY = "tb_test_key_bulk_0123456789abcdef0123456789"


@pytest.mark.parametrize("rebuild_indexes", [False, True])
def test_both_stores_hold_the_same_events(
    pg_url: str, chdb_url: str, rebuild_indexes: bool
) -> None:
    shipped = build(
        Settings(
            database_url=pg_url,
            events_url=chdb_url,
            api_key=KEY,
            log_json=False,
            scheduler_interval_seconds=0,
        )
    )
    plain = build(
        Settings(database_url=pg_url, api_key=KEY, log_json=False, scheduler_interval_seconds=0)
    )
    executor = shipped.events_executor
    assert executor is not None
    events = list(month_events(3_000, 40, whale_events=500, year=2026, month=3, seed=11))
    received = ledger.month_start_micros(2026, 4)
    loaded = load(
        pg_url,
        executor,
        TENANT,
        iter(events),
        received_micros=received,
        months=[(2026, 3)],
        block=700,  # several chDB blocks, the last one partial
        rebuild_indexes=rebuild_indexes,
    )
    assert loaded == 3_000

    expected: dict[str, tuple[int, Decimal]] = {}
    for event in events:
        count, total = expected.get(event.customer, (0, Decimal(0)))
        tokens = Decimal(event.properties.split('"tokens":')[1].split(",")[0])
        expected[event.customer] = (count + 1, total + tokens)
    assert len(expected) == 40 and expected[WHALE][0] == 500
    assert pg_aggregates(pg_url, TENANT) == expected
    assert chdb_aggregates(executor, TENANT) == expected

    # the rows went into the month's partition, none into the default one
    with plain.engine.connect() as conn:
        assert (2026, 3) in ledger.existing_months(conn)
        assert conn.execute(text("SELECT count(*) FROM events_default")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM events_p202603")).scalar_one() == 3_000
        indexes = conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE tablename = 'events_p202603'")
        ).scalar_one()
        assert indexes >= 3  # the key and the indexes exist on the partition again

    # the product's readers agree with each other and with the generated events
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    for aggregation, field in ((Aggregation.COUNT, 0), (Aggregation.SUM, 1)):
        value = "tokens" if aggregation is Aggregation.SUM else None
        meter = Meter("m", EVENT_TYPE, aggregation, value=value)
        from_pg = plain.usage.aggregate(TENANT, meter, start, end)
        from_chdb = shipped.usage.aggregate(TENANT, meter, start, end)
        assert {k.customer: v for k, v in from_pg.items()} == {
            c: Decimal(v[field]) for c, v in expected.items()
        }
        assert from_chdb == from_pg
    with plain.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_batches")).scalar_one() == 0
    shipped.close()
    plain.close()
