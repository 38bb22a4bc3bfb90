"""The dead-letter workflow: list rejected events, replay them (as received or corrected),
or discard them.

A replay validates the event again, exactly as ingestion would now (same format, same
meters, the current clock), and stores it in the same transaction that marks the dead
letter ``replayed``: either both happen or neither. A replay that fails keeps the dead
letter ``open`` and raises the new problem (``ValidationError`` with the event's code,
or ``Conflict`` when the id is now stored with another body). Replaying an event that
is already stored with the same body succeeds as a ``duplicate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.metering.events import Problem, RejectedEvent
from tallybook.services.ingest.service import IngestService, check_page_size
from tallybook.services.pagination import decode_cursor, page_of
from tallybook.services.ports import EventUnitOfWork

STATUSES = ("open", "replayed", "discarded")


class _Unset:
    pass


AS_RECEIVED: Any = _Unset()  # replay the stored raw event unchanged


@dataclass(frozen=True, slots=True)
class ReplayResult:
    outcome: str  # accepted | duplicate
    rejected: RejectedEvent


@dataclass(frozen=True, slots=True)
class RejectedPage:
    items: list[RejectedEvent]
    next_cursor: str | None


class DeadLetterService:
    def __init__(self, ingest: IngestService):
        self._ingest = ingest
        self._store = ingest.store
        self._clock = ingest.clock

    def list(
        self, tenant_id: str, *, status: str | None = None, cursor: str | None = None, limit: int
    ) -> RejectedPage:
        if status is not None and status not in STATUSES:
            raise ValidationError(
                f"status must be one of {', '.join(STATUSES)}", code="invalid_status"
            )
        limit = check_page_size(limit)
        position = decode_cursor(cursor, (str,))  # opaque, like every list's cursor
        before = None if position is None or position[0] is None else str(position[0])
        rows = self._store.list_rejected(tenant_id, status=status, before=before, limit=limit + 1)
        page = page_of(rows, limit, lambda r: [r.id])
        return RejectedPage(list(page.items), page.next_cursor)

    def get(self, tenant_id: str, rejected_id: str) -> RejectedEvent:
        record = self._store.get_rejected(tenant_id, rejected_id)
        if record is None:
            raise NotFound(f"no rejected event {rejected_id}", code="rejected_event_not_found")
        return record

    def replay(
        self, tenant_id: str, rejected_id: str, corrected: Any = AS_RECEIVED
    ) -> ReplayResult:
        record = self._open(tenant_id, rejected_id)
        raw = orjson.loads(record.event) if corrected is AS_RECEIVED else corrected
        now = self._clock.now()
        validator = self._ingest.validator(tenant_id, record.format, now)
        checked = validator.check(raw)
        if isinstance(checked, Problem):
            raise ValidationError(
                checked.message,
                code=checked.code,
                details={
                    "rejected_event": rejected_id,
                    "errors": [{"index": 0, "code": checked.code, "message": checked.message}],
                },
            )

        def work(tx: EventUnitOfWork) -> int:
            inserted, stored = tx.insert([checked])
            if not inserted and stored.get((checked.source, checked.id)) != checked.body_hash:
                raise Conflict(
                    "an event with this id is already stored with a different body",
                    code="conflict",
                    details={"rejected_event": rejected_id, "id": checked.id},
                )
            if not tx.resolve(rejected_id, "replayed", now):
                raise _not_open(rejected_id)
            return inserted

        inserted = self._store.run_transaction(tenant_id, validator.now, work)
        outcome = "accepted" if inserted else "duplicate"
        return ReplayResult(outcome, self.get(tenant_id, rejected_id))

    def discard(self, tenant_id: str, rejected_id: str) -> RejectedEvent:
        """Mark an open dead letter discarded (discarding twice is harmless)."""
        record = self.get(tenant_id, rejected_id)
        if record.status == "discarded":
            return record
        now = self._clock.now()

        def work(tx: EventUnitOfWork) -> None:
            if not tx.resolve(rejected_id, "discarded", now):
                raise _not_open(rejected_id)

        self._store.run_transaction(tenant_id, 0, work)
        return self.get(tenant_id, rejected_id)

    def _open(self, tenant_id: str, rejected_id: str) -> RejectedEvent:
        record = self.get(tenant_id, rejected_id)
        if record.status != "open":
            raise _not_open(rejected_id, record.status)
        return record


def _not_open(rejected_id: str, status: str | None = None) -> Conflict:
    state = f" (it is {status})" if status else ""
    return Conflict(
        f"rejected event {rejected_id} is not open{state}",
        code="rejected_event_not_open",
        details={"status": status} if status else {},
    )
