"""Bounds on what a rejected event makes us echo and store.

A rejected event may be anything a client sent, up to the request-size limit (16 MiB by
default): an ``id`` of 15 MB used to be echoed in full in the response and kept in full
in the dead-letter store. Now:

- an echoed value (the ``id`` of ``errors[]``) keeps at most ``MAX_ECHO_CHARS``
  characters, followed by ``TRUNCATED`` and the original length: ``"aaaa…[truncated:
  15000000 chars]"``;
- a stored raw event keeps its JSON text as sent when it is at most ``MAX_STORED_CHARS``
  (twice the default 64 KiB event limit, so every event small enough to be valid is kept
  whole and can be replayed); a larger one has each string (keys too) longer than
  ``MAX_STORED_STRING`` cut the same way, and if it is still too large only its first
  ``MAX_STORED_CHARS`` characters are kept, as ``{"truncated": true, "chars": N,
  "head": "..."}``.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_ECHO_CHARS = 255  # the longest valid id
MAX_STORED_CHARS = 128 * 1024
MAX_STORED_STRING = 1024
DUMP_DEPTH = 200  # orjson.dumps refuses deeper nesting; dead letters keep this much
TRUNCATED = "\u2026[truncated: {chars} chars]"


def bounded_text(value: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``value``, or its first ``limit`` characters and a marker with its length."""
    if len(value) <= limit:
        return value
    return value[:limit] + TRUNCATED.format(chars=len(value))


def bounded_raw(raw: Any) -> str:
    """The raw event as JSON text of at most about ``MAX_STORED_CHARS`` characters."""
    try:
        text = orjson.dumps(raw).decode()
    except TypeError:  # nesting beyond orjson's limit
        text = orjson.dumps(_cut(raw, DUMP_DEPTH, None)).decode()
    if len(text) <= MAX_STORED_CHARS:
        return text
    text = orjson.dumps(_cut(raw, DUMP_DEPTH, MAX_STORED_STRING)).decode()
    if len(text) <= MAX_STORED_CHARS:
        return text
    head = {"truncated": True, "chars": len(text), "head": text[:MAX_STORED_CHARS]}
    return orjson.dumps(head).decode()


def _cut(node: Any, depth: int, longest: int | None) -> Any:
    """``node`` with nesting cut at ``depth`` and strings cut at ``longest`` characters."""
    if type(node) is dict:
        if depth == 0:
            return "(nesting truncated)"
        return {_cut(str(k), depth, longest): _cut(v, depth - 1, longest) for k, v in node.items()}
    if type(node) is list:
        if depth == 0:
            return "(nesting truncated)"
        return [_cut(v, depth - 1, longest) for v in node]
    if type(node) is str and longest is not None:
        return bounded_text(node, longest)
    return node
