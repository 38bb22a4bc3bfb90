"""The SDK's sans-I/O core on its own: no thread, no event loop, no transport.

Plans are driven by hand: each ``Post`` step is answered with a constructed
``httpx.Response`` (or a transport error), each ``Sleep`` step with the abort flag.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

import httpx
import pytest

from tallybook.client import BatchResult, errors
from tallybook.client.config import ClientSettings
from tallybook.client.core import ClientCore, Done, Wait, advance
from tallybook.client.delivery import EVENTS_PATH, Post, Sleep
from tallybook.client.events import Event

Reported = list[tuple[errors.TallybookError, list[Event]]]


def make_core(reported: Reported | None = None, **settings: Any) -> ClientCore:
    options: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.002}
    options.update(settings)  # type: ignore[typeddict-item]

    def on_error(error: errors.TallybookError, events: list[Event]) -> None:
        if reported is not None:
            reported.append((error, events))

    return ClientCore("tb_secret_key", "https://billing.example.com/tb", on_error, options)


def event(n: int) -> dict[str, Any]:
    return {"id": f"evt_{n}", "customer": "acme", "type": "api_call", "properties": {"n": n}}


def ok(accepted: int, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"accepted": accepted, "duplicates": 0, "rejected": 0, **extra})


def sent_ids(step: Post | Sleep) -> list[str]:
    assert isinstance(step, Post)
    return [item["id"] for item in json.loads(step.body)["events"]]


class Driver:
    """Drives a plan step by step; ``steps`` records every step the plan asked for."""

    def __init__(self, plan: Generator[Post | Sleep, Any, Any]) -> None:
        self.plan = plan
        self.steps: list[Post | Sleep] = []
        self.step = self._next(None)

    def _next(self, reply: Any) -> Post | Sleep | Done[Any]:
        step = advance(self.plan, reply)
        if not isinstance(step, Done):
            self.steps.append(step)
        return step

    def reply(self, answer: Any) -> Post | Sleep | Done[Any]:
        assert not isinstance(self.step, Done), "the plan has already finished"
        self.step = self._next(answer)
        return self.step

    def answer_all(self, answers: Iterator[Any]) -> Any:
        """Answer Posts from ``answers`` and Sleeps with False until the plan is done."""
        while not isinstance(self.step, Done):
            self.reply(next(answers) if isinstance(self.step, Post) else False)
        return self.step.value


# -- options, headers, views --------------------------------------------------------------


def test_options_are_validated_and_unknown_ones_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_core(batch_size=0)
    with pytest.raises(ValueError, match="api_key"):
        ClientCore(" ", "http://x", None, {})
    with pytest.raises(TypeError):
        make_core(batch_sise=10)


def test_http_options_carry_base_url_timeout_and_headers_but_repr_hides_the_key() -> None:
    core = make_core(timeout=3.5)
    options = core.http_options()
    assert options["base_url"] == "https://billing.example.com/tb"
    assert options["timeout"] == 3.5
    headers = options["headers"]
    assert headers["Authorization"] == "Bearer tb_secret_key"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("tallybook-python/")
    assert "tb_secret_key" not in repr(core.options)
    assert core.describe("Client") == (
        "<Client base_url='https://billing.example.com/tb' closed=False>"
    )


# -- buffering decisions ----------------------------------------------------------------------


def test_enqueue_wakes_the_worker_on_the_first_event_and_on_a_full_batch() -> None:
    core = make_core(batch_size=3)
    wakes = [core.enqueue(event(n)) for n in range(4)]
    assert wakes == [True, False, True, False]
    assert core.stats().queued == 4


def test_a_full_buffer_asks_track_to_wait_then_refuses() -> None:
    core = make_core(max_queue=2)
    core.enqueue(event(1))
    assert not core.must_wait_for_room()
    core.enqueue(event(2))
    assert core.must_wait_for_room()
    with pytest.raises(errors.QueueFullError, match="2 events are waiting"):
        core.enqueue(event(3))
    core.closing = True
    assert not core.must_wait_for_room()  # closing: track() must not wait, it must fail
    with pytest.raises(errors.ClientClosedError):
        core.enqueue(event(3))


def test_next_batch_waits_takes_and_exits() -> None:
    core = make_core(batch_size=2, flush_interval=30.0)
    assert core.next_batch(aborted=False) == Wait(None)  # empty: wait until notified
    core.enqueue(event(1))
    waiting = core.next_batch(aborted=False)
    assert isinstance(waiting, Wait)
    assert waiting.seconds is not None and 29.0 < waiting.seconds <= 30.0
    core.enqueue(event(2))
    core.enqueue(event(3))
    assert core.next_batch(aborted=False) == [event(1), event(2)]  # a full batch is due
    assert isinstance(core.next_batch(aborted=False), Wait)
    assert core.next_batch(aborted=True) is None
    core.stopping = True  # stopping: the partial batch is due, then the worker exits
    assert core.next_batch(aborted=False) == [event(3)]
    assert core.next_batch(aborted=False) is None


def test_flush_targets_are_met_only_once_events_are_settled() -> None:
    core = make_core(batch_size=10, flush_interval=30.0)
    core.enqueue(event(1))
    core.enqueue(event(2))
    target = core.request_flush()
    assert not core.flushed(target)
    assert core.next_batch(aborted=False) == [event(1), event(2)]  # flush made it due
    core.enqueue(event(3))  # after the flush: not part of its target
    core.settle(2)
    assert core.flushed(target)
    assert not core.flushed(core.request_flush())


def test_abandon_reports_leftovers_as_client_closed() -> None:
    core = make_core()
    assert core.abandon([]) is None
    delivery = core.abandon([event(1), event(2)])
    assert delivery is not None
    [(error, events)] = delivery.failures
    assert isinstance(error, errors.ClientClosedError)
    assert events == [event(1), event(2)]
    assert core.stats().failed == 2


# -- request plans and results ---------------------------------------------------------------


def test_send_plan_posts_chunks_and_sums_results_with_shifted_indices() -> None:
    core = make_core(batch_size=2)
    driver = Driver(core.plan_send([event(n) for n in range(5)]))
    rejection = {"index": 1, "id": "evt_3", "code": "bad", "message": "no"}
    answers = iter(
        [
            ok(2),
            httpx.Response(200, json={"accepted": 1, "rejected": 1, "errors": [rejection]}),
            ok(1),
        ]
    )
    result = driver.answer_all(answers)
    assert [sent_ids(step) for step in driver.steps] == [
        ["evt_0", "evt_1"],
        ["evt_2", "evt_3"],
        ["evt_4"],
    ]
    assert all(isinstance(step, Post) and step.path == EVENTS_PATH for step in driver.steps)
    assert (result.accepted, result.rejected) == (4, 1)
    assert [(e.index, e.id, e.code) for e in result.errors] == [(3, "evt_3", "bad")]
    stats = core.stats()
    assert (stats.sent, stats.accepted, stats.rejected, stats.queued) == (5, 4, 1, 0)


def test_retries_resend_the_same_bytes_after_a_sleep_honouring_retry_after() -> None:
    core = make_core()
    driver = Driver(core.plan_batch([event(1), event(2)]))
    first = driver.step
    assert isinstance(first, Post)
    pause = driver.reply(httpx.Response(429, headers={"Retry-After": "2"}))
    assert isinstance(pause, Sleep) and pause.seconds >= 2.0
    second = driver.reply(False)
    assert isinstance(second, Post) and second.body == first.body
    pause = driver.reply(httpx.ConnectError("refused"))
    assert isinstance(pause, Sleep)
    third = driver.reply(False)
    assert isinstance(third, Post) and third.body == first.body
    done = driver.reply(ok(2))
    assert isinstance(done, Done)
    assert done.value.result == BatchResult(accepted=2)
    assert done.value.failures == []
    assert core.stats().retries == 2


def test_413_splits_the_batch_in_halves() -> None:
    core = make_core()
    driver = Driver(core.plan_batch([event(n) for n in range(4)]))
    too_large = httpx.Response(413, json={"error": {"code": "too_large", "message": "big"}})
    driver.answer_all(iter([too_large, ok(2), ok(2)]))
    assert [sent_ids(step) for step in driver.steps] == [
        ["evt_0", "evt_1", "evt_2", "evt_3"],
        ["evt_0", "evt_1"],
        ["evt_2", "evt_3"],
    ]


def test_error_answers_map_to_api_errors_and_send_raises_with_the_undelivered_events() -> None:
    core = make_core(batch_size=2, max_retries=0)
    driver = Driver(core.plan_send([event(n) for n in range(5)]))
    driver.reply(ok(2))
    forbidden = httpx.Response(
        403,
        json={"error": {"code": "forbidden", "message": "wrong key", "details": {"k": 1}}},
    )
    with pytest.raises(errors.ApiError) as caught:
        driver.reply(forbidden)
    error = caught.value
    assert (error.status, error.code, error.message, error.details) == (
        403,
        "forbidden",
        "wrong key",
        {"k": 1},
    )
    assert [e["id"] for e in error.events] == ["evt_2", "evt_3", "evt_4"]
    assert core.stats().failed == 2


def test_non_json_answers_are_mapped_too() -> None:
    core = make_core(max_retries=0)
    driver = Driver(core.plan_batch([event(1)]))
    done = driver.reply(httpx.Response(502, text="Bad Gateway from the proxy"))
    assert isinstance(done, Done)
    [(error, _)] = done.value.failures
    assert isinstance(error, errors.ApiError)
    assert (error.status, error.code, error.message) == (
        502,
        "http_502",
        "Bad Gateway from the proxy",
    )
    driver = Driver(core.plan_batch([event(1)]))
    done = driver.reply(httpx.Response(200, text="[1, 2]"))
    assert isinstance(done, Done)
    [(error, _)] = done.value.failures
    assert isinstance(error, errors.ApiError) and error.code == "invalid_response"


def test_an_empty_2xx_counts_every_event_accepted() -> None:
    core = make_core()
    driver = Driver(core.plan_batch([event(1), event(2)]))
    done = driver.reply(httpx.Response(202))
    assert isinstance(done, Done) and done.value.result == BatchResult(accepted=2)


def test_an_abort_during_a_backoff_gives_up_as_client_closed() -> None:
    core = make_core()
    driver = Driver(core.plan_batch([event(1)]))
    assert isinstance(driver.reply(httpx.ConnectError("down")), Sleep)
    done = driver.reply(True)  # the shell was told to stop waiting
    assert isinstance(done, Done)
    [(error, events)] = done.value.failures
    assert isinstance(error, errors.ClientClosedError)
    assert isinstance(error.__cause__, errors.NetworkError)
    assert events == [event(1)]


def test_send_plan_refuses_when_closing_and_validates_before_sending() -> None:
    core = make_core()
    with pytest.raises(errors.InvalidEventError):
        advance(core.plan_send([event(1), {"type": "api_call"}]), None)
    assert core.stats().sent == 0
    core.closing = True
    with pytest.raises(errors.ClientClosedError):
        advance(core.plan_send([event(1)]), None)


def test_send_plan_of_nothing_is_done_at_once() -> None:
    assert advance(make_core().plan_send([]), None) == Done(BatchResult())


# -- reports -----------------------------------------------------------------------------------


def test_report_passes_failures_then_rejections_to_on_error() -> None:
    reported: Reported = []
    core = make_core(reported)
    driver = Driver(core.plan_batch([event(1), event(2)]))
    rejection = {"index": 1, "id": "evt_2", "code": "bad", "message": "no"}
    done = driver.reply(httpx.Response(200, json={"accepted": 1, "errors": [rejection]}))
    assert isinstance(done, Done)
    crash = core.crashed([event(3)], RuntimeError("boom"))
    done.value.failures.extend(crash.failures)
    assert core.report(done.value) == [None, None]
    [(failure, failed), (rejected, rejected_events)] = reported
    assert type(failure) is errors.TallybookError and isinstance(failure.__cause__, RuntimeError)
    assert failed == [event(3)]
    assert isinstance(rejected, errors.EventsRejectedError)
    assert rejected_events == [event(2)]
    assert core.stats().failed == 1


def test_report_returns_what_on_error_returned_and_survives_its_exceptions() -> None:
    calls: list[str] = []

    def on_error(error: errors.TallybookError, events: list[Event]) -> object:
        calls.append(type(error).__name__)
        if isinstance(error, errors.ClientClosedError):
            raise RuntimeError("callback bug")
        return "outcome"

    core = ClientCore("key", "http://x", on_error, {})
    delivery = core.abandon([event(1)])
    assert delivery is not None
    assert core.report(delivery) == []
    delivery.failures.append((errors.ApiError(500, "x", "y"), [event(2)]))
    assert core.report(delivery) == ["outcome"]
    assert calls == ["ClientClosedError", "ClientClosedError", "ApiError"]
    assert ClientCore("key", "http://x", None, {}).report(delivery) == []
