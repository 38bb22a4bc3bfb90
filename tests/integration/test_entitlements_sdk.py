"""``Client.check`` and ``AsyncClient.check`` against a real server (uvicorn on 127.0.0.1),
on SQLite and PostgreSQL: answers, typed values, and errors as ``ApiError``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from tallybook.api.app import create_app
from tallybook.bootstrap import Container
from tallybook.client import ApiError, AsyncClient, Client, Entitlement, NetworkError
from tests.conftest import TEST_KEY
from tests.integration import test_entitlements_api as scenario
from tests.integration import test_previews as shared
from tests.live_server import free_port, live_server

clock, app_container, api = shared.clock, shared.app_container, shared.api


@pytest.fixture
def server(app_container: Container, api: TestClient) -> Iterator[str]:
    scenario.setup(api)
    with live_server(create_app(container=app_container)) as url:
        yield url


def test_sync_check_answers_typed_entitlements(server: str) -> None:
    with Client(TEST_KEY, server) as tallybook:
        fits = tallybook.check("c1", "calls", units=10000)
        assert isinstance(fits, Entitlement) and fits and fits.reason is None
        assert (fits.usage, fits.limit, fits.remaining) == (
            Decimal(90000),
            Decimal(100000),
            Decimal(10000),
        )
        assert fits.reset_at == datetime(2026, 2, 1, tzinfo=UTC)
        assert fits.as_of == datetime(2026, 1, 16, tzinfo=UTC)
        too_many = tallybook.check("c1", "calls", units=Decimal("10000.5"))
        assert not too_many and too_many.reason == "limit_reached"
        assert tallybook.check("c1", "support").config == {"tier": "priority", "hours": 24}
        assert tallybook.check("c1", "audit_log").reason == "not_in_plan"
        with pytest.raises(ApiError) as missing:
            tallybook.check("c1", "teleport")
        assert (missing.value.status, missing.value.code) == (404, "feature_not_found")
        with pytest.raises(ApiError) as negative:
            tallybook.check("c1", "calls", units=-1)
        assert (negative.value.status, negative.value.code) == (422, "invalid_units")
        with pytest.raises(ValueError):
            tallybook.check("c1", "calls", units=1.5)  # type: ignore[arg-type]


def test_async_check_answers_the_same(server: str) -> None:
    async def run() -> tuple[Entitlement, Entitlement]:
        async with AsyncClient(TEST_KEY, server) as tallybook:
            first = await tallybook.check("c1", "calls", units="10000")
            second = await tallybook.check("c1", "calls", units=10001)
            with pytest.raises(ApiError) as missing:
                await tallybook.check("nobody", "calls")
            assert missing.value.code == "customer_not_found"
            return first, second

    first, second = asyncio.run(run())
    assert first.has_access and first.remaining == Decimal(10000)
    assert not second.has_access and second.reason == "limit_reached"


def test_check_with_no_server_raises_network_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(TEST_KEY, url, timeout=2) as tallybook, pytest.raises(NetworkError):
        tallybook.check("c1", "calls")
