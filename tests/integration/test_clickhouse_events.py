"""ClickHouse specifics: flattening, parameter escaping, and exactly-once shipping
(kill -9 of the shipper mid-round, a batch shipped twice with and without its token).
The cross-store aggregates are in ``test_usage_contract.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tallybook.adapters.clickhouse.executors import ChdbExecutor, executor_for_url
from tallybook.adapters.clickhouse.schema import fits, flatten, instant_text
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.services.ports import UsageKey
from tests.conftest import TEST_KEY

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
CHILD = Path(__file__).with_name("clickhouse_shipper_child.py")


def test_flatten_keeps_text_as_sent_and_marks_wide_values() -> None:
    texts, keys, wide = flatten(
        '{"a": 1.50, "b": "0.05", "c": {"d": true, "e": null, "f": [1, 2.0]}, '
        '"g": 1e45, "h": "0.0000000000000000000001", "x.y": 1, "o": {"p": 1}, "q": {}}'
    )
    assert texts == {
        "a": "1.50",
        "b": "0.05",
        "c.d": "true",
        "c.f": "[1,2.0]",
        "g": "1e45",
        "h": "0.0000000000000000000001",
        "o.p": "1",
        "q": "{}",
    }
    assert keys["a"] == "n:1.5" and keys["c.d"] == "j:true" and keys["g"].startswith("n:1000")
    assert keys["o"] == 'j:{"p":1}' and keys["c"].startswith("j:{") and "b" not in keys
    assert sorted(wide) == ["g", "h"]
    assert fits(Decimal("1e-20")) and not fits(Decimal("1e-21")) and not fits(Decimal("1e40"))
    assert fits(Decimal("1.5000000000000000000000000")) and fits(Decimal(0))
    assert instant_text(1_700_000_000_000_001) == "1700000000.000001"


def test_events_url_forms(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chdb://PATH or clickhouse://"):
        executor_for_url("mysql://x")
    with pytest.raises(ValueError, match="needs a directory"):
        executor_for_url("chdb://")
    with pytest.raises(ValueError, match="invalid ClickHouse database name"):
        ChdbExecutor(str(tmp_path), "a;drop")


@pytest.fixture
def ch(pg_url: str, chdb_url: str) -> Any:
    settings = Settings(
        database_url=pg_url,
        events_url=chdb_url,
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
    )
    container = build(settings)
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


def _event(n: int, customer: str = "acme", **props: Any) -> dict[str, Any]:
    return {
        "id": f"e{n}",
        "customer": customer,
        "type": "llm",
        "timestamp": (T0 + timedelta(minutes=n)).isoformat(),
        "properties": {"tokens": n, **props},
    }


def _raw_count(container: Container) -> int:
    executor = container.events_executor
    assert executor is not None
    return int(executor.query(f"SELECT count() FROM {executor.database}.events")[0][0])


@pytest.mark.postgres
def test_hostile_text_is_bound_not_spliced(ch: Container) -> None:
    names = ["o'brien", "back\\slash", "tab\there", "new\nline", "{t:String}", "'); DROP --"]
    items = [_event(n, name, model=name) for n, name in enumerate(names, start=1)]
    assert ch.ingest.ingest("default", items).rejected == 0
    assert ch.shipper is not None and ch.shipper.ship_all() == 1
    m = Meter("m", "llm", Aggregation.SUM, value="tokens", filter={"model": tuple(names)})
    got = ch.usage.aggregate("default", m, T0, T1, customers=names, group_by="model")
    assert got == {UsageKey(n, n): Decimal(i) for i, n in enumerate(names, start=1)}
    one = ch.usage.aggregate("default", m, T0, T1, customers=["o'brien"])
    assert one == {UsageKey("o'brien"): Decimal(1)}
    nul = Meter("n", "llm", Aggregation.SUM, value="tok\x00ens")
    assert ch.usage.aggregate("default", nul, T0, T1) == {}


@pytest.mark.postgres
def test_a_batch_shipped_twice_counts_once(ch: Container) -> None:
    assert ch.ingest.ingest("default", [_event(n) for n in range(1, 6)]).accepted == 5
    assert ch.shipper is not None and ch.shipper.ship_all() == 1
    assert ch.shipper.pending() == 0
    with ch.engine.begin() as conn:  # the commit after the insert was lost: ship again
        conn.execute(update(event_batches).values(shipped_at=None))
    assert ch.shipper.ship_all() == 1
    assert _raw_count(ch) == 5  # the dedup token dropped the second block
    executor = ch.events_executor
    assert executor is not None
    rows = executor.query(
        f"SELECT id, properties FROM {executor.database}.events FINAL ORDER BY id"
    )
    assert rows == [(f"e{n}", {"tokens": str(n)}) for n in range(1, 6)]
    # past the token's window (or a different token): rows get in, FINAL reads them once
    executor.command(
        f"INSERT INTO {executor.database}.events SELECT * FROM {executor.database}.events"
    )
    assert _raw_count(ch) == 10
    m = Meter("m", "llm", Aggregation.SUM, value="tokens")
    assert ch.usage.aggregate("default", m, T0, T1) == {UsageKey("acme"): Decimal(15)}
    count = Meter("c", "llm", Aggregation.COUNT)
    assert ch.usage.aggregate("default", count, T0, T1) == {UsageKey("acme"): Decimal(5)}


def _child(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.postgres
@pytest.mark.parametrize(("limit", "die_after"), [(1, 2), (3, 2), (10, 4)])
def test_kill_9_of_the_shipper_keeps_counts_exact(
    ch: Container, pg_url: str, tmp_path: Path, limit: int, die_after: int
) -> None:
    """Batches committed in PostgreSQL; a shipper process SIGKILLed right after a
    ClickHouse insert (before the commit marking it shipped); a new shipper finishes.
    (This process's own shipper is not used: the children ship to their own chDB.)"""
    for batch in range(6):
        items = [_event(batch * 10 + n) for n in range(10)]
        assert ch.ingest.ingest("default", items).accepted == 10
    ch.ingest.ingest("default", [_event(3), _event(61)])  # a duplicate and a new one
    with ch.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_batches)).scalar() == 7
    path = str(tmp_path / "chdb")
    killed = _child(pg_url, path, "ship", str(limit), str(die_after))
    assert killed.returncode == -9, killed.stderr
    finished = _child(pg_url, path, "ship", str(limit))
    assert finished.returncode == 0, finished.stderr
    shipped_again, skipped = map(int, finished.stdout.split()[-2:])
    assert shipped_again == 7 - (die_after - 1)  # each batch is marked shipped on its own
    # the dead shipper's last batch is in ClickHouse: none of its 10 is sent again; when
    # it had claimed the 7th batch too, that batch's e3 (held already) is not sent either
    claimed_all = -(-die_after // limit) * limit >= 7
    assert skipped == 10 + claimed_all
    counted = _child(pg_url, path, "count")
    assert counted.returncode == 0, counted.stderr
    # raw 62: the last batch lists e3 again (a duplicate key is shipped as its stored row,
    # which FINAL reads once) unless its retry found e3 held; anything more would be a
    # re-shipped batch
    assert json.loads(counted.stdout) == {"raw": 62 - claimed_all, "final": 61}


class _Died(Exception):
    """Stands for a shipper killed right after its ClickHouse insert."""


@pytest.mark.postgres
def test_a_retried_batch_ships_only_the_keys_clickhouse_lacks(ch: Container) -> None:
    """A shipper dies after its insert; its lease keeps others off the batch until it runs
    out; the retry asks ClickHouse which keys it holds and sends only the rest, under a
    token of their own (the batch's token, already seen, would drop them)."""
    from tallybook.adapters.clickhouse.shipper import Shipper

    executor = ch.events_executor
    assert executor is not None
    assert ch.ingest.ingest("default", [_event(n) for n in range(1, 6)]).accepted == 5
    now = [datetime(2026, 6, 1, tzinfo=UTC)]

    def died(batch_id: str) -> None:
        raise _Died(batch_id)

    first = Shipper(ch.engine, executor, lambda: now[0], after_insert=died)
    with pytest.raises(_Died):
        first.ship_once()
    assert _raw_count(ch) == 5
    second = Shipper(ch.engine, executor, lambda: now[0])
    assert second.ship_all() == 0 and second.pending() == 1  # the dead shipper's lease
    # part of the insert lost (as if only some parts of the block were written)
    executor.command(
        f"ALTER TABLE {executor.database}.events DELETE WHERE id IN ('e2', 'e4') "
        "SETTINGS mutations_sync = 2"
    )
    assert _raw_count(ch) == 3
    now[0] += timedelta(seconds=61)
    assert second.ship_all() == 1 and second.pending() == 0
    assert second.skipped_keys == 3
    assert _raw_count(ch) == 5
    m = Meter("m", "llm", Aggregation.SUM, value="tokens")
    assert ch.usage.aggregate("default", m, T0, T1) == {UsageKey("acme"): Decimal(15)}
    with ch.engine.connect() as conn:
        attempts = conn.execute(select(event_batches.c.attempts)).scalar_one()
    assert attempts == 2
    assert second.ship_all() == 0 and _raw_count(ch) == 5
