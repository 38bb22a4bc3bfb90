"""The threaded SDK client against an in-memory server (httpx.MockTransport, no network)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

import tallybook.client
from tallybook.client import (
    ApiError,
    BatchResult,
    Client,
    ClientClosedError,
    EventsRejectedError,
    InvalidEventError,
    NetworkError,
    QueueFullError,
    TallybookError,
    format_timestamp,
    new_event_id,
)
from tallybook.client.delivery import RetryPolicy, parse_retry_after
from tallybook.client.events import to_json_value
from tallybook.client.testing import FakeServer

Reported = list[tuple[TallybookError, list[dict[str, Any]]]]


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.002)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer(api_key="tb_test")


@pytest.fixture
def reported() -> Reported:
    return []


@pytest.fixture
def make_client(server: FakeServer, reported: Reported) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("transport", server.transport())
        options.setdefault("backoff_base", 0.001)
        options.setdefault("backoff_max", 0.005)
        options.setdefault("flush_interval", 60.0)
        options.setdefault("on_error", lambda error, events: reported.append((error, events)))
        client = Client("tb_test", **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=1.0)


# -- batching and flushing ---------------------------------------------------------------


def test_full_batches_are_sent_without_waiting_for_the_interval(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=3)
    ids = [client.track("acme", "api_call") for _ in range(7)]
    wait_until(lambda: len(server.requests) == 2)
    assert client.stats.queued == 1  # the 7th waits for the interval or a flush
    assert client.flush() is True
    assert server.requests == [ids[0:3], ids[3:6], ids[6:7]]


def test_partial_batch_is_sent_after_flush_interval(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=100, flush_interval=0.05)
    started = time.monotonic()
    event_id = client.track("acme", "api_call")
    wait_until(lambda: event_id in server.events)
    assert time.monotonic() - started >= 0.04
    assert server.requests == [[event_id]]


def test_flush_returns_once_everything_tracked_so_far_is_on_the_server(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=10)
    ids = {client.track("acme", "api_call", {"n": i}) for i in range(25)}
    assert client.flush() is True
    assert set(server.events) == ids
    assert client.stats == tallybook.client.ClientStats(sent=25, accepted=25)
    assert client.flush() is True  # nothing pending: returns at once


def test_flush_timeout_returns_false_while_the_server_is_stuck(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(2)
        return server.handle(request)

    client = make_client(transport=httpx.MockTransport(slow))
    event_id = client.track("acme", "api_call")
    assert client.flush(timeout=0.05) is False
    release.set()
    assert client.flush() is True
    assert set(server.events) == {event_id}


def test_close_flushes_stops_the_thread_and_rejects_new_events(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=1000)
    ids = {client.track("acme", "api_call") for _ in range(5)}
    thread = client._thread
    client.close()
    assert set(server.events) == ids
    assert not thread.is_alive()
    with pytest.raises(ClientClosedError):
        client.track("acme", "api_call")
    with pytest.raises(ClientClosedError):
        client.send([{"customer": "acme", "type": "api_call"}])
    client.close()  # idempotent


def test_context_manager_closes(server: FakeServer) -> None:
    with Client("tb_test", transport=server.transport(), flush_interval=60) as client:
        event_id = client.track("acme", "api_call")
    assert set(server.events) == {event_id}
    assert not client._thread.is_alive()


def test_concurrent_producers_lose_and_duplicate_nothing(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=50)
    tracked: list[str] = []
    lock = threading.Lock()

    def produce() -> None:
        mine = [client.track("acme", "api_call") for _ in range(250)]
        with lock:
            tracked.extend(mine)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.flush()
    assert len(tracked) == len(set(tracked)) == 2000
    assert set(server.events) == set(tracked)
    assert sorted(server.received_ids) == sorted(tracked)  # each id sent exactly once


# -- retries -------------------------------------------------------------------------


def test_429_503_and_connection_errors_are_retried_with_the_same_ids(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported
) -> None:
    server.fail_next(429, 503, httpx.ConnectError("connection refused"), httpx.ReadTimeout("t"))
    client = make_client(batch_size=3)
    ids = [client.track("acme", "api_call") for _ in range(3)]
    client.flush()
    assert server.requests == [ids] * 5  # one batch, sent five times, identical ids
    assert list(server.events) == ids
    assert client.stats.retries == 4
    assert client.stats.accepted == 3
    assert reported == []


@pytest.mark.parametrize("failures", [1, 3, 8])
def test_flaky_transport_never_loses_or_duplicates_events(
    make_client: Callable[..., Client], server: FakeServer, failures: int
) -> None:
    kinds: list[int | Exception] = [503, httpx.ConnectError("down"), 502, 429]
    server.fail_next(*(kinds[i % len(kinds)] for i in range(failures)))
    client = make_client(batch_size=7, max_retries=failures)
    tracked = [client.track(f"cust_{i % 3}", "api_call", {"i": i}) for i in range(40)]
    client.close()
    assert set(server.events) == set(tracked)
    assert len(server.events) == len(tracked) == len(set(tracked))
    assert client.stats.accepted == 40
    assert client.stats.failed == 0
    assert client.stats.retries == failures


def test_lost_responses_are_retried_and_counted_once_by_the_server(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported
) -> None:
    server.lose_next_responses(2)
    client = make_client(batch_size=5)
    tracked = [client.track("acme", "api_call") for _ in range(5)]
    client.flush()
    assert server.requests == [tracked] * 3
    assert list(server.events) == tracked
    assert client.stats.duplicates == 5
    assert client.stats.accepted == 0  # the server had them from the first attempt
    assert reported == []


def test_retry_after_is_honoured(make_client: Callable[..., Client], server: FakeServer) -> None:
    server.fail_next(httpx.Response(429, headers={"Retry-After": "0.1"}))
    client = make_client()
    started = time.monotonic()
    client.track("acme", "api_call")
    client.flush()
    assert time.monotonic() - started >= 0.1
    assert client.stats.retries == 1


def test_gives_up_after_max_retries_and_reports(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported
) -> None:
    server.fail_next(*[503] * 10)
    client = make_client(max_retries=2)
    event_id = client.track("acme", "api_call")
    client.flush()
    assert len(server.requests) == 3
    [(error, events)] = reported
    assert isinstance(error, ApiError)
    assert (error.status, error.code) == (503, "http_503")
    assert [e["id"] for e in events] == [event_id]
    assert client.stats.failed == 1
    assert client.stats.retries == 2


def test_network_errors_are_reported_as_network_error_after_retries(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported
) -> None:
    server.fail_next(*[httpx.ConnectError("refused")] * 3)
    client = make_client(max_retries=2)
    client.track("acme", "api_call")
    client.flush()
    [(error, _)] = reported
    assert isinstance(error, NetworkError)
    assert isinstance(error.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_other_than_429_are_not_retried(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported, status: int
) -> None:
    server.fail_next(status)
    client = make_client()
    client.track("acme", "api_call")
    client.flush()
    assert len(server.requests) == 1
    [(error, events)] = reported
    assert isinstance(error, ApiError) and error.status == status
    assert len(events) == 1
    assert client.stats.retries == 0
    assert client.stats.failed == 1


def test_wrong_api_key_is_a_permanent_failure(reported: Reported) -> None:
    server = FakeServer(api_key="the-right-key")
    with Client(
        "the-wrong-key",
        transport=server.transport(),
        on_error=lambda e, ev: reported.append((e, ev)),
    ) as client:
        client.track("acme", "api_call")
    [(error, _)] = reported
    assert isinstance(error, ApiError)
    assert (error.status, error.code, error.message) == (401, "unauthorized", error.message)
    assert server.events == {}


def test_413_splits_the_batch_until_it_fits(
    make_client: Callable[..., Client], reported: Reported
) -> None:
    server = FakeServer(max_batch=2)
    client = make_client(transport=server.transport(), batch_size=5)
    tracked = [client.track("acme", "api_call") for _ in range(5)]
    client.flush()
    assert set(server.events) == set(tracked)
    assert [len(r) for r in server.requests] == [5, 2, 3, 1, 2]
    assert client.stats.sent == 5
    assert reported == []


def test_a_single_event_too_large_fails_alone(
    make_client: Callable[..., Client], reported: Reported
) -> None:
    server = FakeServer(max_batch=0)
    client = make_client(transport=server.transport(), batch_size=2)
    client.track("acme", "api_call")
    client.track("acme", "api_call")
    client.flush()
    assert [len(r) for r in server.requests] == [2, 1, 1]
    assert [(getattr(e, "status", None), len(ev)) for e, ev in reported] == [(413, 1)] * 2
    assert client.stats.failed == 2


def test_rejected_events_are_reported_with_their_events(
    make_client: Callable[..., Client], reported: Reported
) -> None:
    def no_bananas(event: dict[str, Any]) -> tuple[str, str] | None:
        return ("unknown_type", "no meter") if event["type"] == "banana" else None

    server = FakeServer(reject=no_bananas)
    client = make_client(transport=server.transport())
    client.track("acme", "api_call")
    bad = client.track("acme", "banana")
    client.flush()
    [(error, events)] = reported
    assert isinstance(error, EventsRejectedError)
    assert [(r.index, r.id, r.code) for r in error.rejections] == [(1, bad, "unknown_type")]
    assert [e["id"] for e in events] == [bad]
    assert (client.stats.accepted, client.stats.rejected, client.stats.failed) == (1, 1, 0)


def test_on_error_exceptions_do_not_kill_the_worker(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    def explode(error: TallybookError, events: list[dict[str, Any]]) -> None:
        raise RuntimeError("bug in the callback")

    server.fail_next(400)
    client = make_client(on_error=explode)
    client.track("acme", "api_call")
    client.flush()
    second = client.track("acme", "api_call")
    client.flush()
    assert set(server.events) == {second}


def test_close_with_timeout_gives_up_and_reports_everything(
    make_client: Callable[..., Client], server: FakeServer, reported: Reported
) -> None:
    server.fail_next(*[503] * 1000)
    client = make_client(batch_size=2, backoff_base=0.05, backoff_max=0.05, max_retries=1000)
    tracked = {client.track("acme", "api_call") for _ in range(5)}
    started = time.monotonic()
    client.close(timeout=0.1)
    # A hang guard, not a speed claim: without the timeout, 1,000 retries take 50 s.
    assert time.monotonic() - started < 20.0
    assert all(isinstance(error, ClientClosedError) for error, _ in reported)
    assert {e["id"] for _, events in reported for e in events} == tracked
    assert client.stats.failed == 5
    assert client.stats.queued == 0


# -- bounded queue -------------------------------------------------------------------


def test_track_raises_queue_full_when_the_buffer_stays_full(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    release = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        release.wait(2)
        return server.handle(request)

    client = make_client(
        transport=httpx.MockTransport(stuck), batch_size=1, max_queue=2, enqueue_timeout=0.05
    )
    first = client.track("acme", "api_call")
    wait_until(lambda: client.stats.queued == 0)  # in flight, stuck
    buffered = [client.track("acme", "api_call") for _ in range(2)]
    with pytest.raises(QueueFullError, match="max_queue"):
        client.track("acme", "api_call")
    release.set()
    client.flush()
    assert set(server.events) == {first, *buffered}


def test_track_blocks_briefly_until_space_frees_up(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    release = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        release.wait(2)
        return server.handle(request)

    client = make_client(
        transport=httpx.MockTransport(stuck), batch_size=1, max_queue=1, enqueue_timeout=1.0
    )
    client.track("acme", "api_call")
    wait_until(lambda: client.stats.queued == 0)
    client.track("acme", "api_call")
    threading.Timer(0.05, release.set).start()
    client.track("acme", "api_call")  # waits for the worker to take one, then succeeds
    client.flush()
    assert len(server.events) == 3


# -- send() ----------------------------------------------------------------------------


def test_send_delivers_synchronously_and_sums_chunks(
    make_client: Callable[..., Client], reported: Reported
) -> None:
    server = FakeServer(reject=lambda e: ("bad", "x") if e["properties"].get("bad") else None)
    client = make_client(transport=server.transport(), batch_size=2)
    events = [
        {
            "customer": "acme",
            "type": "api_call",
            "id": f"evt_{i}",
            "timestamp": "2026-11-01T12:00:00Z",  # with id: re-sending is a duplicate
            "properties": {"bad": i == 3},
        }
        for i in range(5)
    ]
    result = client.send(events)
    assert result.accepted == 4 and result.rejected == 1 and result.duplicates == 0
    assert [(e.index, e.id) for e in result.errors] == [(3, "evt_3")]  # index in our list
    assert client.send(events[:2]) == BatchResult(duplicates=2)
    first_send = [["evt_0", "evt_1"], ["evt_2", "evt_3"], ["evt_4"]]
    assert server.requests == [*first_send, ["evt_0", "evt_1"]]
    assert reported == []  # send() returns or raises; it does not call on_error


def test_send_raises_with_the_undelivered_events(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(batch_size=2)
    events = [{"customer": "acme", "type": "api_call"} for _ in range(5)]
    server.fail_next(httpx.Response(200, json={"accepted": 2}), 422)
    with pytest.raises(ApiError) as caught:
        client.send(events)
    assert caught.value.status == 422
    assert len(caught.value.events) == 3
    retry = client.send(caught.value.events)  # same ids: safe to re-send
    assert retry.accepted == 3
    assert server.received_ids[4:] == [e["id"] for e in caught.value.events]


def test_requests_carry_auth_json_and_user_agent(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client()
    client.send([{"customer": "acme", "type": "api_call", "id": "evt_1"}])
    [request] = server.http_requests
    assert request.headers["authorization"] == "Bearer tb_test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("tallybook-python/")
    assert list(json.loads(request.content)) == ["events"]


def test_base_url_path_prefix_is_kept(server: FakeServer) -> None:
    with Client("tb_test", "https://example.test/tallybook/", transport=server.transport()) as c:
        c.send([{"customer": "acme", "type": "api_call"}])
    assert str(server.http_requests[0].url) == "https://example.test/tallybook/v1/events"


# -- event building ----------------------------------------------------------------------


def test_decimals_are_sent_as_strings_never_floats(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client()
    properties = {
        "amount": Decimal("0.10"),
        "big": Decimal("1E+3"),
        "tiny": Decimal("1E-7"),
        "nested": {"list": [Decimal("2.5"), 1, 1.5, True, None]},
        "count": 3,
    }
    event_id = client.track("acme", "api_call", properties)
    client.flush()
    raw = json.loads(server.http_requests[0].content)["events"][0]["properties"]
    assert raw == {
        "amount": "0.10",
        "big": "1000",
        "tiny": "0.0000001",
        "nested": {"list": ["2.5", 1, 1.5, True, None]},
        "count": 3,
    }
    assert server.events[event_id]["properties"] == raw


@pytest.mark.parametrize(
    "bad",
    [Decimal("NaN"), Decimal("Infinity"), float("nan"), float("inf"), object(), {1: "x"}],
)
def test_unsendable_properties_fail_in_track(
    make_client: Callable[..., Client], bad: object
) -> None:
    client = make_client()
    with pytest.raises(InvalidEventError):
        client.track("acme", "api_call", {"value": bad})
    assert client.stats.queued == 0


def test_properties_are_copied_when_tracked(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client()
    properties: dict[str, Any] = {"tags": ["a"]}
    event_id = client.track("acme", "api_call", properties)
    properties["tags"].append("b")
    client.flush()
    assert server.events[event_id]["properties"] == {"tags": ["a"]}


def test_to_json_value_handles_dates_uuids_and_tuples() -> None:
    value = {
        "d": datetime(2026, 11, 1, 12, tzinfo=UTC).date(),
        "u": uuid.UUID(int=1),
        "t": (1, 2),
    }
    assert to_json_value(value) == {
        "d": "2026-11-01",
        "u": "00000000-0000-0000-0000-000000000001",
        "t": [1, 2],
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), "2026-11-01T12:00:00Z"),
        (datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-01T12:00:00Z"),
        (datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC), "2026-11-01T12:00:00.250000Z"),
        ("2026-11-01T12:00:00Z", "2026-11-01T12:00:00Z"),
        ("2026-11-01T07:00:00-05:00", "2026-11-01T12:00:00Z"),
        ("2026-11-01 12:00:00.5+00:00", "2026-11-01T12:00:00.500000Z"),
    ],
)
def test_timestamps_are_rfc3339_utc_with_z(given: datetime | str, expected: str) -> None:
    assert format_timestamp(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        1_700_000_000,
        datetime(2026, 11, 1, 12, 0),  # naive: refused like the server's invalid_instant
        "2026-11-01T12:00:00",
        "2026-11-01",
    ],
)
def test_bad_timestamps_fail_in_track(make_client: Callable[..., Client], bad: Any) -> None:
    client = make_client()
    with pytest.raises(InvalidEventError, match="timestamp"):
        client.track("acme", "api_call", timestamp=bad)


def test_track_defaults_timestamp_to_now_and_keeps_given_ids(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client()
    before = datetime.now(UTC)
    assert client.track("acme", "api_call", id="order-42") == "order-42"
    client.flush()
    sent = datetime.fromisoformat(server.events["order-42"]["timestamp"])
    assert server.events["order-42"]["timestamp"].endswith("Z")
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC)


@pytest.mark.parametrize(
    "kwargs",
    [{"customer": ""}, {"type": ""}, {"id": ""}, {"id": "x" * 256}, {"properties": [1]}],
)
def test_invalid_events_fail_in_track(
    make_client: Callable[..., Client], kwargs: dict[str, Any]
) -> None:
    client = make_client()
    arguments: dict[str, Any] = {"customer": "acme", "type": "api_call", **kwargs}
    with pytest.raises(InvalidEventError) as caught:
        client.track(**arguments)
    assert isinstance(caught.value, ValueError)


def test_generated_ids_are_unique_time_ordered_uuid7() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    pattern = re.compile(
        r"^evt_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    )
    assert all(pattern.match(event_id) for event_id in ids)
    millis = int(uuid.UUID(ids[0][4:]).hex[:12], 16)
    assert abs(millis / 1000 - time.time()) < 5


# -- configuration and helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"base_url": "127.0.0.1:8080"},
        {"batch_size": 0},
        {"max_queue": 0},
        {"flush_interval": 0},
        {"max_retries": -1},
        {"timeout": float("inf")},
    ],
)
def test_bad_configuration_fails_fast(kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"api_key": "k", **kwargs}
    with pytest.raises(ValueError):
        Client(**arguments)


def test_backoff_is_full_jitter_capped_and_floored_by_retry_after() -> None:
    policy = RetryPolicy(max_retries=8, backoff_base=0.2, backoff_max=1.0)
    delays = [policy.delay(attempt) for attempt in range(20) for _ in range(20)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert all(policy.delay(0, retry_after=3.0) >= 3.0 for _ in range(10))
    assert policy.delay(0, retry_after=10_000) == 300.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = datetime.now(UTC) + timedelta(seconds=30)
    parsed = parse_retry_after(future.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert parsed is not None and 25 < parsed <= 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_public_names_are_pinned() -> None:
    assert set(tallybook.client.__all__) == {
        "ApiError",
        "AsyncClient",
        "AsyncOnError",
        "BatchResult",
        "Client",
        "ClientClosedError",
        "ClientStats",
        "DeliveryError",
        "Entitlement",
        "EventsRejectedError",
        "InvalidEventError",
        "NetworkError",
        "OnError",
        "QueueFullError",
        "RejectedEvent",
        "TallybookError",
        "__version__",
        "format_timestamp",
        "new_event_id",
    }
    for name in tallybook.client.__all__:
        value = getattr(tallybook.client, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, TallybookError)
