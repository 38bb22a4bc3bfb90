"""Usage events as the ingest path and the event store exchange them.

``NewEvent`` is a validated event ready to store (column order, ``ts`` in microseconds,
``properties`` as JSON text, ``body_hash`` the digest that tells a duplicate from a
conflict); ``Key`` is its identity ``(source, id)``; ``DeadLetter`` a rejected event to
keep; ``StoredEvent`` and ``RejectedEvent`` what the store reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

Key = tuple[str, str]  # (source, id)
MAX_KEY_CHARS = 255  # id, source, customer and type


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an event was refused: a machine ``code`` and a message."""

    code: str
    message: str


class NewEvent(NamedTuple):
    """A validated event, in column order (``ts`` in microseconds, ``properties`` JSON text)."""

    source: str
    id: str
    customer: str
    type: str
    ts: int
    properties: str
    body_hash: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected event to keep (the dead-letter queue), with why it was rejected."""

    format: str  # native | cloudevents
    source: str | None
    event_id: str | None
    code: str
    message: str
    event: Any  # the raw event as received (parsed JSON); the store keeps it as JSON text


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored (``received_at``: when the store acknowledged it)."""

    source: str
    id: str
    customer: str
    type: str
    ts: datetime
    properties: str  # JSON text, as stored (numbers exactly as stored)
    received_at: datetime


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """A dead letter as stored: ``status`` open, replayed or discarded."""

    id: str
    format: str
    received_at: datetime
    source: str | None
    event_id: str | None
    code: str
    message: str
    event: str
    status: str
    replayed_at: datetime | None
    discarded_at: datetime | None
