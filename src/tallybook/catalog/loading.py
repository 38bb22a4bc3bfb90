"""Catalog text (YAML or JSON) to plain data, without losing decimal digits.

JSON (text starting with ``{`` or ``[``) is read with ``parse_float=Decimal``; anything
else is YAML, read by a ``yaml.SafeLoader`` (or, when libyaml is built, ``CSafeLoader``)
subclass (as safe as ``yaml.safe_load``)
that builds ``Decimal`` instead of ``float`` for YAML floats, so ``0.123456789012345678``
keeps every digit. Both reject a key repeated in one mapping instead of silently keeping
the last. Syntax errors become ``CatalogInvalid`` with a ``file:line:column`` location;
nesting deeper than ``bounds.MAX_DEPTH`` is refused before parsing (``CatalogTooDeep``).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from tallybook.catalog.bounds import LIBYAML, MAX_DEPTH, check_json_depth, check_yaml
from tallybook.catalog.issues import CatalogInvalid, CatalogIssue


def _construct_mapping(
    loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    """``SafeConstructor.construct_mapping`` that refuses a key repeated in one mapping."""
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if isinstance(key, Hashable) and key in seen:
            raise ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark,
            )  # fmt: skip
        if isinstance(key, Hashable):
            seen.add(key)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


class _DecimalSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with Decimal floats and duplicate-key detection."""

    construct_mapping = _construct_mapping  # type: ignore[assignment]


class _DecimalCSafeLoader(yaml.CSafeLoader):
    """The same on libyaml's C parser (about 25 times faster), used when it is built."""

    construct_mapping = _construct_mapping  # type: ignore[assignment]


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # .inf, .nan, sexagesimal: let the schema reject them
        return float(loader.construct_yaml_float(node))


_DecimalSafeLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_DecimalCSafeLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_LOADER: type[Any] = _DecimalCSafeLoader if LIBYAML else _DecimalSafeLoader


def read_text(
    text: str, filename: str, *, max_depth: int = MAX_DEPTH, allow_aliases: bool = True
) -> Any:
    """Parse catalog text (JSON or YAML) into plain Python data with Decimal numbers.

    Nesting deeper than ``max_depth`` is refused before parsing (``CatalogTooDeep``, code
    ``too_deep``; see ``bounds``); ``allow_aliases=False`` refuses YAML aliases.
    """
    if text.lstrip().startswith(("{", "[")):
        check_json_depth(text, filename, max_depth)
        return _read_json(text, filename)
    check_yaml(text, filename, _LOADER, max_depth=max_depth, allow_aliases=allow_aliases)
    return _read_yaml(text, filename)


def _read_json(text: str, filename: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        issue = CatalogIssue(f"{filename}:{exc.lineno}:{exc.colno}", exc.msg)
        raise CatalogInvalid([issue]) from None
    except _DuplicateKey as exc:
        raise CatalogInvalid([CatalogIssue(filename, str(exc))]) from None


def _read_yaml(text: str, filename: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # SafeLoader or CSafeLoader: safe constructors
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = exc.problem or exc.context or "invalid YAML"
        raise CatalogInvalid([CatalogIssue(where, problem)]) from None
    except yaml.YAMLError as exc:
        raise CatalogInvalid([CatalogIssue(filename, f"invalid YAML: {exc}")]) from None


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"found duplicate key {key!r}")
        result[key] = value
    return result
