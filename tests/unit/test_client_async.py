"""The asyncio SDK client against an in-memory server (httpx.MockTransport, no network).

Each test runs its own event loop with ``asyncio.run``, so no async pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tallybook.client import (
    ApiError,
    AsyncClient,
    ClientClosedError,
    EventsRejectedError,
    QueueFullError,
    TallybookError,
)
from tallybook.client.testing import FakeServer

Reported = list[tuple[TallybookError, list[dict[str, Any]]]]


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, timeout=5))


def client_for(server: FakeServer, reported: Reported | None = None, **options: Any) -> AsyncClient:
    options.setdefault("transport", server.transport())
    options.setdefault("backoff_base", 0.001)
    options.setdefault("backoff_max", 0.005)
    options.setdefault("flush_interval", 60.0)
    if reported is not None:
        options.setdefault("on_error", lambda error, events: reported.append((error, events)))
    return AsyncClient("tb_test", **options)


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.002)


def test_full_batches_go_at_once_and_flush_sends_the_rest() -> None:
    server = FakeServer()

    async def scenario() -> None:
        async with client_for(server, batch_size=3) as client:
            ids = [await client.track("acme", "api_call") for _ in range(7)]
            await wait_until(lambda: len(server.requests) == 2)
            assert client.stats.queued == 1
            assert await client.flush() is True
            assert server.requests == [ids[0:3], ids[3:6], ids[6:7]]
            assert client.stats.accepted == 7

    run(scenario())


def test_partial_batch_is_sent_after_flush_interval() -> None:
    server = FakeServer()

    async def scenario() -> None:
        async with client_for(server, flush_interval=0.05) as client:
            event_id = await client.track("acme", "api_call")
            await wait_until(lambda: event_id in server.events)

    run(scenario())


def test_aclose_flushes_stops_the_task_and_rejects_new_events() -> None:
    server = FakeServer()

    async def scenario() -> None:
        client = client_for(server)
        ids = {await client.track("acme", "api_call") for _ in range(5)}
        task = client._task
        await client.aclose()
        assert set(server.events) == ids
        assert task is not None and task.done()
        with pytest.raises(ClientClosedError):
            await client.track("acme", "api_call")
        await client.aclose()  # idempotent

    run(scenario())


def test_aclose_without_any_event_just_closes() -> None:
    async def scenario() -> None:
        async with client_for(FakeServer()) as client:
            assert await client.flush() is True
        assert client._task is None

    run(scenario())


def test_flush_timeout_returns_false_while_the_server_is_stuck() -> None:
    server = FakeServer()
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return server.handle(request)

    async def scenario() -> None:
        async with client_for(server, transport=httpx.MockTransport(slow)) as client:
            await client.track("acme", "api_call")
            assert await client.flush(timeout=0.05) is False
            release.set()
            assert await client.flush() is True
        assert len(server.events) == 1

    run(scenario())


def test_retries_resend_the_same_ids() -> None:
    server = FakeServer()
    server.fail_next(429, 503, httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    reported: Reported = []

    async def scenario() -> None:
        async with client_for(server, reported, batch_size=4) as client:
            ids = [await client.track("acme", "api_call") for _ in range(4)]
        assert server.requests == [ids] * 5
        assert list(server.events) == ids
        assert client.stats.retries == 4
        assert reported == []

    run(scenario())


@pytest.mark.parametrize("failures", [1, 4, 8])
def test_flaky_transport_never_loses_or_duplicates_events(failures: int) -> None:
    server = FakeServer()
    kinds: list[int | Exception] = [503, httpx.ConnectError("down"), 500, 429]
    server.fail_next(*(kinds[i % len(kinds)] for i in range(failures)))
    server.lose_next_responses(1)

    async def scenario() -> None:
        async with client_for(server, batch_size=6, max_retries=failures + 1) as client:
            tracked = [await client.track("acme", "api_call", {"i": i}) for i in range(30)]
        assert set(server.events) == set(tracked)
        assert len(server.events) == len(set(tracked)) == 30
        assert client.stats.accepted + client.stats.duplicates == client.stats.sent == 30
        assert client.stats.failed == 0

    run(scenario())


def test_no_retry_on_400_and_async_on_error_is_awaited() -> None:
    server = FakeServer()
    server.fail_next(400)
    reported: Reported = []

    async def on_error(error: TallybookError, events: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0)
        reported.append((error, events))

    async def scenario() -> None:
        async with client_for(server, on_error=on_error) as client:
            await client.track("acme", "api_call")
        assert len(server.requests) == 1
        [(error, events)] = reported
        assert isinstance(error, ApiError) and error.status == 400
        assert len(events) == 1
        assert client.stats.failed == 1

    run(scenario())


def test_413_splits_the_batch() -> None:
    server = FakeServer(max_batch=2)

    async def scenario() -> None:
        async with client_for(server, batch_size=5) as client:
            tracked = [await client.track("acme", "api_call") for _ in range(5)]
        assert set(server.events) == set(tracked)
        assert [len(r) for r in server.requests] == [5, 2, 3, 1, 2]

    run(scenario())


def test_rejections_reach_on_error() -> None:
    server = FakeServer(reject=lambda e: ("bad", "no") if e["type"] == "banana" else None)
    reported: Reported = []

    async def scenario() -> None:
        async with client_for(server, reported) as client:
            await client.track("acme", "api_call")
            bad = await client.track("acme", "banana")
        [(error, events)] = reported
        assert isinstance(error, EventsRejectedError)
        assert [e["id"] for e in events] == [bad]
        assert client.stats.rejected == 1

    run(scenario())


def test_queue_full_raises_after_enqueue_timeout() -> None:
    server = FakeServer()
    release = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return server.handle(request)

    async def scenario() -> None:
        transport = httpx.MockTransport(stuck)
        options: dict[str, Any] = {"batch_size": 1, "max_queue": 2, "enqueue_timeout": 0.05}
        async with client_for(server, transport=transport, **options) as client:
            await client.track("acme", "api_call")
            await wait_until(lambda: client.stats.queued == 0)  # in flight, stuck
            await client.track("acme", "api_call")
            await client.track("acme", "api_call")
            with pytest.raises(QueueFullError):
                await client.track("acme", "api_call")
            release.set()
        assert len(server.events) == 3

    run(scenario())


def test_aclose_with_timeout_gives_up_and_reports() -> None:
    server = FakeServer()
    server.fail_next(*[503] * 1000)
    reported: Reported = []

    async def scenario() -> None:
        client = client_for(
            server, reported, batch_size=2, backoff_base=0.05, backoff_max=0.05, max_retries=999
        )
        tracked = {await client.track("acme", "api_call") for _ in range(5)}
        await client.aclose(timeout=0.1)
        assert all(isinstance(error, ClientClosedError) for error, _ in reported)
        assert {e["id"] for _, events in reported for e in events} == tracked
        assert client.stats.failed == 5

    run(scenario())


def test_send_and_decimal_properties() -> None:
    server = FakeServer()

    async def scenario() -> None:
        async with client_for(server, batch_size=2) as client:
            result = await client.send(
                [
                    {
                        "customer": "acme",
                        "type": "api_call",
                        "id": f"evt_{i}",
                        "properties": {"cost": Decimal("0.30")},
                    }
                    for i in range(3)
                ]
            )
        assert result.accepted == 3
        assert [len(r) for r in server.requests] == [2, 1]
        assert server.events["evt_2"]["properties"] == {"cost": "0.30"}

    run(scenario())


def test_send_raises_api_error_with_events() -> None:
    server = FakeServer(api_key="other")

    async def scenario() -> None:
        async with client_for(server) as client:
            with pytest.raises(ApiError) as caught:
                await client.send([{"customer": "acme", "type": "api_call"}])
        assert caught.value.status == 401
        assert len(caught.value.events) == 1

    run(scenario())


def test_flush_from_on_error_is_refused_instead_of_deadlocking() -> None:
    server = FakeServer()
    server.fail_next(400)
    seen: list[BaseException] = []

    async def scenario() -> None:
        client: AsyncClient

        async def on_error(error: TallybookError, events: list[dict[str, Any]]) -> None:
            try:
                await client.flush()
            except RuntimeError as exc:
                seen.append(exc)

        client = client_for(server, on_error=on_error)
        async with client:
            await client.track("acme", "api_call")
        assert len(seen) == 1

    run(scenario())
