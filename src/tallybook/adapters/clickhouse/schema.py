"""The ClickHouse events table and the flattening of an event's properties into it.

One row per stored event. ``ReplacingMergeTree(version)`` ordered by ``(tenant_id, type,
customer, ts, source, id)``: a batch shipped twice (``insert_deduplication_token`` missed
its window) leaves rows equal on the whole sorting key, which merges collapse and every
read's ``FINAL`` collapses before then, so a duplicate is never billed.

Properties are flattened once, in Python, into three columns:

- ``properties Map(String, String)``: every leaf path (``usage.tokens``) -> its text as
  sent: strings as they are, numbers as their JSON text (``1.50`` stays ``1.50``),
  ``true``/``false``, arrays and empty objects as JSON; JSON nulls are left out. Keys that
  hold a ``.`` or ``"`` cannot be addressed by a meter path (``meters.split_path``) and
  are left out too. Filters and ``group_by`` compare these texts; values are read exactly
  with ``toDecimal256OrNull(text, SCALE)`` -- never ``JSONExtract``, which reads numbers as
  doubles.
- ``keys Map(String, String)``: ``unique_count``'s key (``meters.unique_key``) of every
  value that is not a string (``n:1.5``, ``j:true``, ``j:{"x":1}``, objects included);
  a string's key is ``s:`` + its text.
- ``wide Array(String)``: paths whose value is a valid meter value that
  ``Decimal256(SCALE)`` cannot hold exactly (more than ``SCALE`` decimals, or
  ``MAX_INT_DIGITS`` integer digits or more). Queries aggregate those few from their text
  in Python; everything else is summed in ``Decimal256``, which cannot overflow below
  ``10**(76 - SCALE - MAX_INT_DIGITS)`` values per group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from tallybook.domain.instants import from_micros
from tallybook.domain.metering.events import NewEvent
from tallybook.domain.metering.meters import DECIMAL_TEXT, EXACT, try_value, unique_key

SCALE = 20
MAX_INT_DIGITS = 40
# ClickHouse's match() is RE2: the same pattern as the PostgreSQL and Python checks.
VALUE_PATTERN = DECIMAL_TEXT


def create_statements(database: str) -> list[str]:
    """DDL for ``database`` (idempotent). ``non_replicated_deduplication_window`` makes
    ``insert_deduplication_token`` work on a single node (chDB, one server); replicated
    tables use ``replicated_deduplication_window`` (default 1,000 or more blocks)."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {quote_name(database)}",
        f"""CREATE TABLE IF NOT EXISTS {quote_name(database)}.events (
  tenant_id String,
  type String,
  customer String,
  ts DateTime64(6, 'UTC'),
  source String,
  id String,
  properties Map(String, String),
  keys Map(String, String),
  wide Array(String),
  body_hash String,
  received_at DateTime64(6, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, type, customer, ts, source, id)
SETTINGS non_replicated_deduplication_window = 10000""",
    ]


def quote_name(name: str) -> str:
    """A database name as a quoted identifier; only ``[A-Za-z0-9_]`` is accepted."""
    if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
        raise ValueError(f"invalid ClickHouse database name {name!r}")
    return f"`{name}`"


_NUMERIC_START = frozenset("+-.0123456789")  # the first character of a decimal string


class _Number(str):
    """A JSON number kept as the text it was sent as."""


def fits(value: Decimal) -> bool:
    """True when ``Decimal256(SCALE)`` holds ``value`` exactly, with room to sum."""
    if not value.is_finite():
        return False
    if value.is_zero():
        return True
    normal = value.normalize(EXACT)
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent >= -SCALE and normal.adjusted() < MAX_INT_DIGITS


def flatten(properties: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """``(properties, keys, wide)`` of an event's properties JSON text (see module doc)."""
    parsed = json.loads(properties, parse_int=_Number, parse_float=_Number)
    texts: dict[str, str] = {}
    keys: dict[str, str] = {}
    wide: list[str] = []
    for path, value in _leaves(parsed, ""):
        if isinstance(value, _Object):
            keys[path] = "j:" + _dump(value.value)  # an object is a unique_count value too
            continue
        if value is None:
            continue
        if isinstance(value, _Number):
            texts[path] = str(value)
            number = Decimal(value)
            keys[path] = unique_key(number) or ""
            if not fits(number):
                wide.append(path)
        elif isinstance(value, str):
            texts[path] = value
            decimal = try_value(value) if value[:1] in _NUMERIC_START else None
            if decimal is not None and not fits(decimal):
                wide.append(path)
        else:
            text = _dump(value)
            texts[path] = text
            keys[path] = "j:" + text
    return texts, keys, wide


class _Object:
    """A non-empty object met on the way down (its own path has no text)."""

    def __init__(self, value: dict[str, Any]):
        self.value = value


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and (value or not prefix):
        if prefix:
            yield prefix, _Object(value)
        for key, item in value.items():
            if "." in key or '"' in key or key == "":
                continue  # a meter path cannot address it
            yield from _leaves(item, f"{prefix}.{key}" if prefix else key)
    elif prefix:
        yield prefix, value


def _dump(value: Any) -> str:
    """Compact JSON with numbers as sent (``_Number``) and sorted keys."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def row(tenant_id: str, event: NewEvent, received_micros: int) -> dict[str, Any]:
    """One events row as a ``JSONEachRow`` object (instants as ``seconds.micros`` text)."""
    texts, keys, wide = flatten(event.properties)
    return {
        "tenant_id": tenant_id,
        "type": event.type,
        "customer": event.customer,
        "ts": instant_text(event.ts),
        "source": event.source,
        "id": event.id,
        "properties": texts,
        "keys": keys,
        "wide": wide,
        "body_hash": event.body_hash,
        "received_at": instant_text(received_micros),
        "version": received_micros,
    }


def instant_text(micros: int) -> str:
    """Microseconds since the epoch as DateTime64(6) input text, exact."""
    seconds, fraction = divmod(micros, 1_000_000)
    if seconds < 0:
        raise ValueError(f"instant before 1970 cannot be stored: {from_micros(micros)}")
    return f"{seconds}.{fraction:06d}"
