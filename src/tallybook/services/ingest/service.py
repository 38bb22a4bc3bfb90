"""Ingestion: validate a batch, store the valid events exactly once, dead-letter the rest.

``IngestService.ingest(tenant_id, items, fmt)`` takes the already-parsed events of one
request (``fmt`` is ``native`` or ``cloudevents``) and returns a ``BatchResult``:

- each event is validated on its own (``ingest.validate``); invalid ones are rejected
  with a code and kept in the dead-letter store, the others are stored;
- each key ``(source, id)`` is stored once: duplicates and conflicts are decided by the
  dedupe rule, ``domain.metering.dedupe``;
- everything above happens in one transaction (``ports.EventStore.write_batch``): the
  result is returned only after commit.

Dead letters can be listed, replayed (optionally with a corrected event, validated again)
or discarded; see ``ingest.deadletters``. Listing stored events is ``list_events``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from tallybook.domain.errors import PayloadTooLarge, ValidationError
from tallybook.domain.instants import to_micros
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import Problem, StoredEvent
from tallybook.services.ingest.validate import (
    FORMATS,
    Limits,
    MeterRule,
    Validator,
    compile_meters,
)
from tallybook.services.ports import Clock, EventStore, PlanReader

MAX_PAGE = 1000


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
        # called after a commit that stored new events (wakes the alert evaluator)
        self.after_commit: Callable[[], None] | None = None

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
        batch = EventBatch(fmt, items)
        for index, raw in enumerate(items):
            checked = validator.check(raw)
            if isinstance(checked, Problem):
                batch.reject(index, raw, checked)
            else:
                batch.add(index, checked)

        result = self.store.write_batch(tenant_id, validator.now, batch)
        self.stored(result.accepted)
        return result

    def stored(self, accepted: int) -> None:
        """After a commit: tell ``after_commit`` when new events were stored."""
        if accepted and self.after_commit is not None:
            self.after_commit()

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
