"""Every shared worked example and every scenario of ours, through the HTTP API, on
SQLite, PostgreSQL, and PostgreSQL with raw events on ClickHouse (chDB; the shipper
runs after every step, as the server's scheduled job does before each billing pass)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.scenarios.runner import Run, load

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / "examples"  # copies of ../shared/examples: the suite needs only the repo
FILES = sorted(SHARED.glob("*.yaml")) + sorted(HERE.glob("*.yaml"))


def test_the_shared_examples_are_found() -> None:
    assert len(list(SHARED.glob("*.yaml"))) >= 6, f"no worked examples in {SHARED}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres+chdb", marks=pytest.mark.postgres),
    ]
)
def api(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, FixedClock, Container]]:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    db = "sqlite_url" if request.param == "sqlite" else "pg_url"
    settings = Settings(
        database_url=str(request.getfixturevalue(db)),
        events_url=(
            str(request.getfixturevalue("chdb_url")) if request.param == "postgres+chdb" else None
        ),
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
    )
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        yield client, clock, container
    container.close()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_scenario(path: Path, api: tuple[TestClient, FixedClock, Container]) -> None:
    client, clock, container = api
    run = Run(client, clock, load(path))
    run.setup()
    for index, step in enumerate(run.scenario.get("steps", [])):
        try:
            run.step(step)
        except AssertionError as exc:
            raise AssertionError(f"{path.name} step {index + 1} {step}: {exc}") from None
        if container.shipper is not None:
            container.shipper.ship_all()
