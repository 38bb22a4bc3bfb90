"""The dedupe rule (domain/metering/dedupe.py): duplicates versus conflicts."""

from __future__ import annotations

from typing import Any

from tallybook.domain.metering.dedupe import EventBatch
from tallybook.domain.metering.events import NewEvent, Problem


def event(event_id: str, body: str = "h1") -> NewEvent:
    return NewEvent("", event_id, "acme", "api_call", 1, "{}", body)


def batch(*events: NewEvent) -> EventBatch:
    items: list[Any] = [{"id": e.id} for e in events]
    result = EventBatch("native", items)
    for index, e in enumerate(events):
        result.add(index, e)
    return result


def test_a_repeat_in_the_batch_is_a_duplicate_or_a_conflict() -> None:
    b = batch(event("a"), event("a"), event("a", "h2"))
    assert [e.id for e in b.firsts] == ["a"]
    result, letters = b.settle(inserted=1, stored={})
    assert (result.accepted, result.duplicates, result.conflicts) == (1, 1, 1)
    assert [e.index for e in result.errors] == [2] and result.errors[0].code == "conflict"
    assert [(d.code, d.event) for d in letters] == [("conflict", {"id": "a"})]


def test_a_stored_key_is_a_duplicate_with_the_same_body_else_a_conflict() -> None:
    b = batch(event("a"), event("b"), event("c"))
    result, letters = b.settle(
        inserted=1, stored={("", "a"): "h1", ("", "b"): "other", ("", "c"): "h1"}
    )
    assert (result.accepted, result.duplicates, result.conflicts) == (1, 1, 1)
    assert [e.index for e in result.errors] == [1]
    assert len(letters) == 1


def test_settling_twice_gives_the_same_answer() -> None:
    """A shared transaction that is re-run settles the batch again."""
    items: list[Any] = [{"id": "a"}, {"id": "a"}, {"bad": True}]
    b = EventBatch("native", items)
    b.add(0, event("a"))
    b.add(1, event("a", "h2"))
    b.reject(2, items[2], Problem("missing_id", "id is required"))
    first = b.settle(inserted=1, stored={})
    assert b.settle(inserted=1, stored={}) == first
    assert [e.code for e in first[0].errors] == ["conflict", "missing_id"]
    assert [d.event for d in first[1]] == [{"bad": True}, {"id": "a"}]
