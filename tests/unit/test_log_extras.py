"""Every logging call's ``extra`` keys in ``src/``, found by AST scan, must be literal and
must not collide with ``LogRecord`` attributes (``created``, ``msg``, ``name`` ...), which
makes ``Logger.makeRecord`` raise ``KeyError`` (issue 17 item 2: it stopped the scheduler)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from tallybook.logs import JsonFormatter

SRC = Path(__file__).resolve().parents[2] / "src"
LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def extras_in(source: str, filename: str) -> list[tuple[str, int, dict[str, object] | None]]:
    """``(file, line, keys)`` of every ``<logger>.<level>(..., extra=...)`` call; ``keys`` is
    None when ``extra`` is not a dict literal with string keys (it cannot be checked)."""
    found: list[tuple[str, int, dict[str, object] | None]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LEVELS:
            continue
        for keyword in node.keywords:
            if keyword.arg != "extra":
                continue
            value = keyword.value
            literal = isinstance(value, ast.Dict) and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys
            )
            keys = (
                {k.value: None for k in value.keys if isinstance(k, ast.Constant)}
                if literal and isinstance(value, ast.Dict)
                else None
            )
            found.append((filename, node.lineno, keys))
    return found


def all_extras() -> list[tuple[str, int, dict[str, object] | None]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        found += extras_in(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    return found


def test_the_scan_sees_a_collision() -> None:
    [(_, line, keys)] = extras_in('log.info("x", extra={"created": 1, "tenant": "t"})\n', "m.py")
    assert line == 1 and keys is not None and set(keys) & RESERVED == {"created"}


def test_every_logging_extra_in_src_is_literal_and_not_reserved() -> None:
    found = all_extras()
    assert len(found) >= 4  # billing and scheduler log with extras: the scan must see them
    unreadable = [(f, line) for f, line, keys in found if keys is None]
    assert unreadable == [], "write extra= as a dict literal so this test can check it"
    clashes = [(f, line, sorted(set(k or {}) & RESERVED)) for f, line, k in found]
    assert [c for c in clashes if c[2]] == []


def test_every_logging_extra_in_src_formats() -> None:
    logger = logging.getLogger("tallybook.test_log_extras")
    formatter = JsonFormatter()
    for filename, line, keys in all_extras():
        assert keys is not None
        record = logger.makeRecord(
            logger.name, logging.INFO, filename, line, "m", (), None, None, keys
        )
        assert '"msg": "m"' in formatter.format(record)
