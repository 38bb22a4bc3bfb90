"""Building wire events: ids, timestamps and JSON-safe properties.

Everything here runs in the caller's thread when ``track()`` is called, so a bad event
fails there (``InvalidEventError``) instead of poisoning a batch later, and the queued
event is a private copy that later mutation of the caller's objects cannot change.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tallybook.client.errors import InvalidEventError

__all__ = ["Event", "build_event", "format_timestamp", "new_event_id", "to_json_value"]

Event = dict[str, Any]
"""A wire event: ``id``, ``customer``, ``type``, ``timestamp`` and ``properties``."""

MAX_ID_LENGTH = 255

_id_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_event_id() -> str:
    """Return a new time-ordered event id: ``evt_`` + a UUIDv7 (RFC 9562).

    The first 48 bits are the Unix time in milliseconds and the next 12 a counter
    (RFC 9562 method 1), so ids made by one process sort in creation order and ids made
    anywhere sort roughly by time. Ordered keys keep the server's unique index compact.
    """
    global _last_ms, _sequence
    with _id_lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _sequence = secrets.randbits(11)  # leave headroom for the counter
        else:
            _sequence += 1
            if _sequence > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _sequence = 0
        ms, seq = _last_ms, _sequence
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62
    text = f"{value | secrets.randbits(62):032x}"  # the canonical 8-4-4-4-12 UUID form
    return f"evt_{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def format_timestamp(value: datetime | str) -> str:
    """Return ``value`` as an RFC 3339 UTC string ending in ``Z``.

    ``value`` is an aware datetime or an RFC 3339 / ISO 8601 string with ``Z`` or an
    offset; either is converted to UTC. Like the server (``invalid_instant``), the SDK
    refuses instants without a time zone rather than guess one: a naive datetime raises
    ``InvalidEventError``. Microseconds are kept when present
    (``2026-11-01T12:00:00.250000Z``).
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidEventError(f"timestamp {value!r} is not an RFC 3339 instant") from None
    elif not isinstance(value, datetime):
        raise InvalidEventError(
            f"timestamp must be a datetime or an RFC 3339 string, not {type_name(value)}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEventError(
            f"timestamp {value.isoformat()} has no time zone; use an aware datetime "
            "(datetime.now(UTC)) or a string with Z or an offset"
        )
    value = value.astimezone(UTC)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


def to_json_value(value: Any, path: str = "properties") -> Any:
    """Return a JSON-ready deep copy of ``value``.

    ``Decimal`` becomes a plain decimal string (``Decimal("0.10")`` -> ``"0.10"``, never a
    float, never exponent notation), datetimes become RFC 3339 ``Z`` strings, dates ISO
    dates, UUIDs strings, tuples/lists lists. Non-finite numbers, non-string keys and
    other types raise ``InvalidEventError`` naming the offending path.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(f"{path} is {value!r}; JSON has no NaN or infinity")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidEventError(f"{path} is {value!r}; only finite decimals can be sent")
        return format(value, "f")
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEventError(f"{path} has a non-string key {key!r}")
            result[key] = to_json_value(item, f"{path}.{key}")
        return result
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEventError(f"{path} is a datetime without a time zone")
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise InvalidEventError(f"{path} has a {type(value).__name__}, which is not JSON")


def _require_text(name: str, value: Any, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidEventError(f"{name} is longer than {max_length} characters")
    return value


def build_event(
    customer: str,
    type: str,
    properties: Mapping[str, Any] | None = None,
    id: str | None = None,
    timestamp: datetime | str | None = None,
) -> Event:
    """Validate and normalise one event into its wire form (see module docstring)."""
    if properties is not None and not isinstance(properties, Mapping):
        raise InvalidEventError(f"properties must be a mapping, not {type_name(properties)}")
    return {
        "id": new_event_id() if id is None else _require_text("id", id),
        "customer": _require_text("customer", customer),
        "type": _require_text("type", type),
        "timestamp": format_timestamp(datetime.now(UTC) if timestamp is None else timestamp),
        "properties": to_json_value(properties or {}),
    }


def event_from_mapping(event: Mapping[str, Any]) -> Event:
    """Build a wire event from a mapping with the keys of :func:`build_event`."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"an event must be a mapping, not {type_name(event)}")
    unknown = set(event) - {"id", "customer", "type", "timestamp", "properties"}
    if unknown:
        raise InvalidEventError(f"unknown event field(s): {', '.join(sorted(unknown))}")
    customer: Any = event.get("customer")  # build_event validates each field
    event_type: Any = event.get("type")
    return build_event(
        customer, event_type, event.get("properties"), event.get("id"), event.get("timestamp")
    )


def type_name(value: object) -> str:
    return type(value).__name__
