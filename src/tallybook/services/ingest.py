"""Ingestion: validate a batch, store the valid events exactly once, dead-letter the rest.

``IngestService.ingest(tenant_id, items, fmt)`` takes the already-parsed events of one
request (``fmt`` is ``native`` or ``cloudevents``) and returns a ``BatchResult``:

- each event is validated on its own (``events_validate``); invalid ones are rejected
  with a code and kept in the dead-letter store, the others are stored;
- a key ``(source, id)`` seen twice in the batch is stored once; the repeat is a
  duplicate when its body hash matches, a conflict otherwise;
- a key already stored is a duplicate (same body: not counted, not an error) or a
  conflict (different body: rejected with code ``conflict`` and dead-lettered);
- everything above happens in one transaction: the result is returned only after commit.

Dead letters can be listed, replayed (optionally with a corrected event, validated again)
or discarded; see ``events_deadletters``. Listing stored events is ``list_events``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from tallybook.adapters.clock import Clock
from tallybook.adapters.store.events import (
    BatchWriter,
    DeadLetter,
    EventStore,
    Key,
    NewEvent,
    StoredEvent,
)
from tallybook.adapters.store.types import to_micros
from tallybook.domain.errors import PayloadTooLarge, ValidationError
from tallybook.services.events_bounds import bounded_raw, bounded_text
from tallybook.services.events_validate import (
    FORMATS,
    MAX_KEY_CHARS,
    Limits,
    MeterRule,
    Problem,
    Validator,
    compile_meters,
)
from tallybook.services.ports import PlanReader

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class EventError:
    index: int
    id: str | None
    code: str
    message: str


@dataclass(slots=True)
class BatchResult:
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


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[StoredEvent]
    next_cursor: str | None


class IngestService:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        limits: Limits,
        max_batch_events: int,
        plans: PlanReader | None = None,
    ):
        self.store = store
        self.clock = clock
        self.limits = limits
        self.max_batch_events = max_batch_events
        self.plans = plans  # the catalog; None means no meter value checks

    def validator(self, tenant_id: str, fmt: str, now: datetime) -> Validator:
        return Validator(FORMATS[fmt], self.limits, to_micros(now), self.meter_rules(tenant_id))

    def meter_rules(self, tenant_id: str) -> dict[str, list[MeterRule]]:
        if self.plans is None:
            return {}
        with self.store.quiet():
            meters = self.plans.list_meters(tenant_id)
        return compile_meters(meters)

    def ingest(self, tenant_id: str, items: list[Any], fmt: str = "native") -> BatchResult:
        if len(items) > self.max_batch_events:
            raise PayloadTooLarge(
                f"a request may carry at most {self.max_batch_events} events",
                code="batch_too_large",
                details={"max_batch_events": self.max_batch_events, "received": len(items)},
            )
        now = self.clock.now()
        validator = self.validator(tenant_id, fmt, now)
        batch = _Batch(fmt)
        for index, raw in enumerate(items):
            checked = validator.check(raw)
            if isinstance(checked, Problem):
                batch.reject(index, raw, checked)
            else:
                batch.add(index, checked)

        def work(tx: BatchWriter) -> BatchResult:  # may run twice: see EventStore.write
            inserted, stored = tx.insert(batch.firsts)
            result, letters = batch.settle(inserted, stored, items)
            tx.dead_letters(letters)
            return result

        return self.store.write(tenant_id, validator.now, work, size=len(items), shared=True)

    def list_events(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        event_type: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        cursor: str | None = None,
        newest_first: bool = True,
        limit: int = 100,
    ) -> EventPage:
        limit = check_page_size(limit)
        rows = self.store.list_events(
            tenant_id,
            customer=customer,
            event_type=event_type,
            start=start,
            end=end,
            after=None if cursor is None else _decode_cursor(cursor),
            newest_first=newest_first,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        token = None if last is None else _encode_cursor(to_micros(last.ts), last.source, last.id)
        return EventPage(rows, token)


class _Batch:
    """The bookkeeping of one request: which events go in, which are rejected and why."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.firsts: list[NewEvent] = []  # first valid occurrence of each key
        self.first_index: list[int] = []
        self.position: dict[Key, int] = {}
        self.repeats: list[tuple[int, NewEvent]] = []  # later occurrences in the batch
        self.errors: list[EventError] = []  # validation failures
        self.letters: list[DeadLetter] = []

    def add(self, index: int, event: NewEvent) -> None:
        key = (event.source, event.id)
        if key in self.position:
            self.repeats.append((index, event))
            return
        self.position[key] = len(self.firsts)
        self.firsts.append(event)
        self.first_index.append(index)

    def reject(self, index: int, raw: Any, problem: Problem) -> None:
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
            dump_raw(raw),
        )
        return error, letter

    def settle(
        self, inserted: int, stored: dict[Key, str], items: list[Any]
    ) -> tuple[BatchResult, list[DeadLetter]]:
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
        rejected = [self._rejection(index, items[index], CONFLICT) for index in conflicts]
        result = BatchResult(
            accepted=inserted,
            duplicates=first_duplicates + repeat_duplicates,
            conflicts=len(conflicts),
            errors=sorted(self.errors + [e for e, _ in rejected], key=lambda e: e.index),
        )
        return result, self.letters + [letter for _, letter in rejected]


CONFLICT = Problem("conflict", "an event with this id was already received with a different body")


def _column_safe(value: Any) -> str | None:
    """A raw id or source fit for a text column, or None."""
    if type(value) is str and 0 < len(value) <= MAX_KEY_CHARS and "\x00" not in value:
        return value
    return None


def dump_raw(raw: Any) -> str:
    """The raw event as JSON text for the dead-letter store, bounded (``events_bounds``)."""
    return bounded_raw(raw)


def check_page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    return limit


def _encode_cursor(ts: int, source: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, source, event_id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, source, event_id = orjson.loads(base64.urlsafe_b64decode(padded))
        if type(ts) is int and type(source) is str and type(event_id) is str:
            return ts, source, event_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValidationError("cursor is not one this API returned", code="invalid_cursor")
