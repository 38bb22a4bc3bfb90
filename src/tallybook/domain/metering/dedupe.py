"""Dedupe: an event is stored exactly once per key ``(source, id)``.

The rule, in one place (``EventBatch``):

- a key seen twice in one request is stored once; a repeat is a *duplicate* when its
  ``body_hash`` matches the first, a *conflict* otherwise;
- a key already stored is a duplicate (same body: not counted, not an error) or a
  conflict (different body: rejected with code ``conflict`` and dead-lettered).

The store decides only what it can know atomically: it inserts ``firsts`` with
``ON CONFLICT DO NOTHING`` (the primary key, not a cache, says what already exists) and
reports how many went in and, when some did not, the stored body hash of each key.
``settle`` turns that into the request's ``BatchResult`` and the dead letters to write
in the same transaction. It is pure, so a shared transaction that has to be re-run (group
commit, ``adapters/store/events_group.py``) can settle again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tallybook.domain.metering.bounds import bounded_text
from tallybook.domain.metering.events import MAX_KEY_CHARS, DeadLetter, Key, NewEvent, Problem


@dataclass(frozen=True, slots=True)
class EventError:
    """Why the event at ``index`` of a request was rejected."""

    index: int
    id: str | None
    code: str
    message: str


@dataclass(slots=True)
class BatchResult:
    """What one request's events became (the ingest response body, ``as_dict``)."""

    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    errors: list[EventError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "errors": [
                {"index": e.index, "id": e.id, "code": e.code, "message": e.message}
                for e in self.errors
            ],
        }


class EventBatch:
    """The bookkeeping of one request: which events go in, which are rejected and why."""

    def __init__(self, fmt: str, items: Sequence[Any]):
        self.fmt = fmt
        self.items = items  # the request's raw events, by index
        self.firsts: list[NewEvent] = []  # first valid occurrence of each key
        self.first_index: list[int] = []
        self.position: dict[Key, int] = {}
        self.repeats: list[tuple[int, NewEvent]] = []  # later occurrences in the batch
        self.errors: list[EventError] = []  # validation failures
        self.letters: list[DeadLetter] = []

    def add(self, index: int, event: NewEvent) -> None:
        """A valid event: the first of its key goes in, a repeat is settled later."""
        key = (event.source, event.id)
        if key in self.position:
            self.repeats.append((index, event))
            return
        self.position[key] = len(self.firsts)
        self.firsts.append(event)
        self.first_index.append(index)

    def reject(self, index: int, raw: Any, problem: Problem) -> None:
        """An invalid event: an error in the result and a dead letter."""
        error, letter = self._rejection(index, raw, problem)
        self.errors.append(error)
        self.letters.append(letter)

    def _rejection(self, index: int, raw: Any, problem: Problem) -> tuple[EventError, DeadLetter]:
        event_id = raw.get("id") if type(raw) is dict else None
        source = raw.get("source") if type(raw) is dict and self.fmt == "cloudevents" else None
        echoed = bounded_text(event_id) if type(event_id) is str else None
        error = EventError(index, echoed, problem.code, problem.message)
        letter = DeadLetter(
            self.fmt,
            _column_safe(source),
            _column_safe(event_id),
            problem.code,
            problem.message,
            raw,
        )
        return error, letter

    @property
    def size(self) -> int:
        return len(self.items)

    def settle(self, inserted: int, stored: dict[Key, str]) -> tuple[BatchResult, list[DeadLetter]]:
        """Classify what the store did not insert (duplicates, conflicts): the result and
        every dead letter. Pure, so a transaction that has to be re-run can call it again."""
        conflicts = [
            index
            for event, index in zip(self.firsts, self.first_index, strict=True)
            if stored and stored.get((event.source, event.id), event.body_hash) != event.body_hash
        ]
        first_duplicates = len(self.firsts) - inserted - len(conflicts)
        repeat_duplicates = 0
        for index, event in self.repeats:
            key = (event.source, event.id)
            if event.body_hash == (stored.get(key) or self.firsts[self.position[key]].body_hash):
                repeat_duplicates += 1
            else:
                conflicts.append(index)
        rejected = [self._rejection(index, self.items[index], CONFLICT) for index in conflicts]
        result = BatchResult(
            accepted=inserted,
            duplicates=first_duplicates + repeat_duplicates,
            conflicts=len(conflicts),
            errors=sorted(self.errors + [e for e, _ in rejected], key=lambda e: e.index),
        )
        return result, self.letters + [letter for _, letter in rejected]


CONFLICT = Problem("conflict", "an event with this id was already received with a different body")


CONFLICT = Problem("conflict", "an event with this id was already received with a different body")


def _column_safe(value: Any) -> str | None:
    """A raw id or source fit for a text column, or None."""
    if type(value) is str and 0 < len(value) <= MAX_KEY_CHARS and "\x00" not in value:
        return value
    return None
