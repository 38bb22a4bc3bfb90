"""Per-event validation for both ingest formats, in plain Python (the hot path).

A raw event (whatever ``orjson.loads`` produced) becomes either a ``NewEvent`` ready
for the store or a ``Problem`` with a machine code. Native events and CloudEvents share
the rules; only the attribute names differ (``FORMATS``):

    native       id  customer  type  timestamp  properties
    cloudevents  id  subject   type  time       data        (+ source, specversion)

Event codes: invalid_event, missing_id, invalid_id, missing_customer, invalid_customer,
missing_type, invalid_type, invalid_timestamp, timestamp_out_of_range (before 1970 or
after 2199), timestamp_in_future, invalid_properties,
properties_too_deep, event_too_large, invalid_meter_value; CloudEvents also
missing_source, invalid_source, invalid_specversion. ``conflict`` is decided later, by
the store.

The body hash covers the event *as sent*: customer, type, the timestamp if one was sent
(as an instant, so ``Z`` and ``+00:00`` agree) and the properties with sorted keys. A retry
of an event sent without a timestamp therefore matches the original even though each
attempt was stamped with its own receipt time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.instants import to_micros
from tallybook.domain.metering.events import MAX_KEY_CHARS, NewEvent, Problem

# Event times are bounded as billing instants are (api.routes.customers: 1970-2199).
EARLIEST_MICROS = 0
LATEST_MICROS = to_micros(datetime(2200, 1, 1, tzinfo=UTC))
_DECIMAL = re.compile(r"[+-]?[0-9]{1,40}(\.[0-9]{1,40})?")
_NEEDS_VALUE = frozenset(
    {
        Aggregation.SUM,
        Aggregation.MAX,
        Aggregation.MIN,
        Aggregation.LATEST,
        Aggregation.TIME_WEIGHTED_AVERAGE,
    }
)


@dataclass(frozen=True, slots=True)
class Format:
    """Attribute names of one wire format."""

    name: str
    customer: str
    timestamp: str
    properties: str
    cloudevents: bool


NATIVE = Format("native", "customer", "timestamp", "properties", cloudevents=False)
CLOUDEVENTS = Format("cloudevents", "subject", "time", "data", cloudevents=True)
FORMATS = {f.name: f for f in (NATIVE, CLOUDEVENTS)}


@dataclass(frozen=True, slots=True)
class MeterRule:
    """What one meter needs from the events it reads."""

    key: str
    path: tuple[str, ...]
    required: bool  # a missing value is an error (sum, max, min, latest, twa)
    numeric: bool  # the value must be a number or decimal string (all but unique_count)


def compile_meters(meters: Iterable[Meter]) -> dict[str, list[MeterRule]]:
    """Meter rules by event type; meters without a value path need nothing. A weighted
    meter's sources with a value are checked as a ``sum`` meter's value is (required,
    numeric), each on its own event type; counting sources need nothing."""
    rules: dict[str, list[MeterRule]] = {}
    for meter in meters:
        for source in meter.sources:  # a weighted sum meter: each valued source as a sum's
            if source.value:
                rule = MeterRule(meter.key, tuple(source.value.split(".")), True, True)
                rules.setdefault(source.event_type, []).append(rule)
        if meter.event_type is None or not meter.value or meter.aggregation == Aggregation.COUNT:
            continue
        rule = MeterRule(
            key=meter.key,
            path=tuple(meter.value.split(".")),
            required=meter.aggregation in _NEEDS_VALUE,
            numeric=meter.aggregation != Aggregation.UNIQUE_COUNT,
        )
        rules.setdefault(meter.event_type, []).append(rule)
    return rules


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int
    max_property_depth: int
    max_future_micros: int


class Validator:
    """Validates the events of one batch against one instant ("now") and one catalog."""

    def __init__(
        self,
        fmt: Format,
        limits: Limits,
        now_micros: int,
        meter_rules: Mapping[str, list[MeterRule]],
    ):
        self.fmt = fmt
        self.limits = limits
        self.now = now_micros
        self.latest = now_micros + limits.max_future_micros
        self.rules = meter_rules

    def check(self, raw: Any) -> NewEvent | Problem:
        if type(raw) is not dict:
            return Problem("invalid_event", "an event must be a JSON object")
        fmt = self.fmt
        source = _key(raw.get("source"), "source", "source") if fmt.cloudevents else ""
        if isinstance(source, Problem):
            return source
        if fmt.cloudevents and raw.get("specversion", "1.0") not in ("1.0", None):
            return Problem("invalid_specversion", 'specversion must be "1.0"')
        event_id = _key(raw.get("id"), "id", "id")
        if isinstance(event_id, Problem):
            return event_id
        customer = _key(raw.get(fmt.customer), fmt.customer, "customer")
        if isinstance(customer, Problem):
            return customer
        event_type = _key(raw.get("type"), "type", "type")
        if isinstance(event_type, Problem):
            return event_type
        sent = raw.get(fmt.timestamp)
        ts = self._timestamp(sent)
        if isinstance(ts, Problem):
            return ts
        properties = raw.get(fmt.properties)
        if properties is None:
            properties = {}
        elif type(properties) is not dict:
            return Problem("invalid_properties", f"{fmt.properties} must be a JSON object")
        body = self._properties(properties, len(event_id) + len(customer) + len(event_type))
        if isinstance(body, Problem):
            return body
        rules = self.rules.get(event_type)
        problem = None if rules is None else _check_meter_values(properties, rules)
        if problem is not None:
            return problem
        head = orjson.dumps((customer, event_type, None if sent is None else ts))
        digest = hashlib.blake2b(head, digest_size=16)
        digest.update(body)
        return NewEvent(
            source, event_id, customer, event_type, ts, body.decode(), digest.hexdigest()
        )

    def _timestamp(self, sent: Any) -> int | Problem:
        name = self.fmt.timestamp
        if sent is None:
            return self.now
        if type(sent) is not str or len(sent) > 64:
            return Problem("invalid_timestamp", f"{name} must be an RFC 3339 string")
        try:
            instant = datetime.fromisoformat(sent)
        except ValueError:
            return Problem("invalid_timestamp", f"{name} is not an RFC 3339 instant")
        if instant.tzinfo is None or len(sent) < 20:
            return Problem("invalid_timestamp", f"{name} needs a time and a UTC offset (or Z)")
        try:
            micros = to_micros(instant)
        except OverflowError:
            return Problem("invalid_timestamp", f"{name} is out of range")
        if micros > self.latest:
            seconds = self.limits.max_future_micros // 1_000_000
            return Problem(
                "timestamp_in_future", f"{name} is more than {seconds} s ahead of the server clock"
            )
        if not EARLIEST_MICROS <= micros < LATEST_MICROS:
            return Problem(
                "timestamp_out_of_range",
                f"{name} must be between 1970-01-01 and 2199-12-31 (UTC), as billing periods are",
            )
        return micros

    def _properties(self, properties: dict[str, Any], key_chars: int) -> bytes | Problem:
        name = self.fmt.properties
        limits = self.limits
        too_deep = Problem(
            "properties_too_deep", f"{name} nest deeper than {limits.max_property_depth} levels"
        )
        try:
            body = orjson.dumps(properties, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson's own nesting limit (254 levels)
            return too_deep
        if len(body) + key_chars > limits.max_event_bytes:
            return Problem(
                "event_too_large", f"event is larger than {limits.max_event_bytes} bytes"
            )
        if b"\\u0000" in body:
            return Problem("invalid_properties", f"{name} may not contain NUL characters")
        # Flat objects (the common case) skip the walk: one '{' and no '[' in the text.
        nested = body.count(b"{") > 1 or b"[" in body
        if nested and _too_deep(properties, limits.max_property_depth):
            return too_deep
        return body


def _key(value: Any, name: str, kind: str) -> str | Problem:
    """A required key attribute: a string of 1-255 characters without NUL."""
    if value is None:
        return Problem(f"missing_{kind}", f"{name} is required")
    if type(value) is not str or not 0 < len(value) <= MAX_KEY_CHARS or "\x00" in value:
        return Problem(
            f"invalid_{kind}", f"{name} must be a string of 1-{MAX_KEY_CHARS} characters"
        )
    return value


def _too_deep(root: Any, limit: int) -> bool:
    """True when containers nest deeper than ``limit`` (the object itself is level 1)."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if type(node) is dict else node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def _lookup(properties: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = properties
    for part in path:
        if type(node) is not dict:
            return None
        node = node.get(part)
    return node


def _check_meter_values(properties: dict[str, Any], rules: list[MeterRule]) -> Problem | None:
    for rule in rules:
        value = _lookup(properties, rule.path)
        where = ".".join(rule.path)
        if value is None:
            if rule.required:
                return Problem(
                    "invalid_meter_value", f"meter {rule.key} needs a value at properties.{where}"
                )
            continue
        kind = type(value)
        if kind is int or kind is float:
            continue
        if kind is str and (not rule.numeric or _DECIMAL.fullmatch(value)):
            continue
        expected = "a number or a decimal string" if rule.numeric else "a string or a number"
        return Problem(
            "invalid_meter_value", f"meter {rule.key}: properties.{where} must be {expected}"
        )
    return None
