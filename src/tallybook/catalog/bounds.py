"""Bounds checked on catalog text BEFORE it is parsed: nesting depth (and YAML aliases).

Python's ``json`` and PyYAML's composer recurse once per nesting level, so a deep enough
document raises ``RecursionError``; PyYAML's pure-Python scanner is also quadratic in
flow nesting (3,000 ``[`` took ~9 s). A real catalog nests about 6 levels
(``plans[0].charges[0].tiers[0]...``), so anything deeper than ``MAX_DEPTH`` is refused
with ``CatalogTooDeep`` (code ``too_deep``, 422) before a recursive parser sees it:

- JSON: one linear scan counting ``[``/``{`` outside strings (``check_json_depth``);
- YAML: the event stream (PyYAML's parser is an explicit state machine, not recursive;
  with libyaml it is C) is read up to the first collection deeper than the limit
  (``check_yaml``); it also refuses aliases when asked ("billion laughs" expansion). Without
  libyaml, a cheap count of flow brackets first refuses ``[[[[...`` before PyYAML's
  quadratic scanner sees it.

Size is bounded by the caller (``TALLYBOOK_MAX_DOCUMENT_BYTES`` at the HTTP edge).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tallybook.catalog.issues import CatalogInvalid, CatalogIssue

MAX_DEPTH = 32
LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))
_JSON_TOKENS = re.compile(r'["\[\]{}]')
_FLOW = re.compile(r"[\[\]{}]")


class CatalogTooDeep(CatalogInvalid):
    """The document nests deeper than ``max_depth`` levels (code ``too_deep``, 422)."""

    code = "too_deep"

    def __init__(self, location: str, max_depth: int):
        super().__init__(
            [CatalogIssue(location, f"the document nests deeper than {max_depth} levels")]
        )
        self.details["max_depth"] = max_depth


def check_json_depth(text: str, filename: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``CatalogTooDeep`` if JSON ``text`` nests deeper than ``max_depth``.

    Linear in ``len(text)``: strings are skipped with ``str.find`` (a quote preceded by an
    odd run of backslashes is escaped). Malformed text is left to the JSON parser.
    """
    depth, position = 0, 0
    while (match := _JSON_TOKENS.search(text, position)) is not None:
        char = match.group()
        if char == '"':
            end = _string_end(text, match.end())
            if end < 0:
                return  # unterminated string: the parser reports it
            position = end + 1
            continue
        position = match.end()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise CatalogTooDeep(_position(text, filename, match.start()), max_depth)
        else:
            depth -= 1


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the JSON string that starts at ``start``, or -1."""
    while (quote := text.find('"', start)) >= 0:
        backslashes = 0
        while quote - 1 - backslashes >= start and text[quote - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return quote
        start = quote + 1
    return -1


def check_yaml(
    text: str,
    filename: str,
    loader: type[Any],
    *,
    max_depth: int = MAX_DEPTH,
    allow_aliases: bool = True,
) -> None:
    """Raise ``CatalogTooDeep`` (or ``CatalogInvalid`` for an alias, when refused) by
    reading YAML events; syntax errors are left to the loader, which locates them."""
    if not LIBYAML:
        _check_flow_brackets(text, filename, max_depth)
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    raise CatalogTooDeep(_mark(event, filename), max_depth)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent) and not allow_aliases:
                issue = CatalogIssue(
                    _mark(event, filename), "YAML aliases (*name) are not accepted"
                )
                raise CatalogInvalid([issue])
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit (1,000 levels)
            raise CatalogTooDeep(filename, max_depth) from None
        return  # the loader reports syntax errors with their position


def _check_flow_brackets(text: str, filename: str, max_depth: int) -> None:
    """Refuse more than ``max_depth`` open flow brackets, counted without regard to
    quoting: cheap, and only a first line of defence before PyYAML's quadratic scanner
    (brackets inside quoted text may hide nesting; the event check still sees it)."""
    depth = 0
    for match in _FLOW.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise CatalogTooDeep(_position(text, filename, match.start()), max_depth)
        elif depth:
            depth -= 1


def _mark(event: Any, filename: str) -> str:
    mark = event.start_mark
    return f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename


def _position(text: str, filename: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{filename}:{line}:{column}"
