"""Guard rail: no module under ``src/tallybook`` grows past a generous ceiling.

STYLE.md: "a module that passes ~400 lines is usually two ideas" (issue 7). The ceiling is
600 lines so that a module of one idea has room; past it, split the module by idea (see
``docs/architecture.md`` for the tree) rather than raising the limit. Exceptions must be
listed in ``EXCEPTIONS`` with the reason they are one idea.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tallybook"
CEILING = 600
EXCEPTIONS: dict[str, str] = {}  # path relative to src/tallybook -> why it is one idea


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_stays_under_the_ceiling(path: Path) -> None:
    name = str(path.relative_to(SRC))
    if name in EXCEPTIONS:
        return
    lines = _lines(path)
    assert lines <= CEILING, (
        f"{name} has {lines} lines (ceiling {CEILING}): split it by idea "
        "(docs/architecture.md), or list it in EXCEPTIONS with the reason"
    )


def test_exceptions_are_real_and_still_needed() -> None:
    """An exception names an existing module that is still over the ceiling."""
    for name in EXCEPTIONS:
        path = SRC / name
        assert path.is_file(), f"EXCEPTIONS names {name}, which does not exist"
        assert _lines(path) > CEILING, f"{name} is back under {CEILING} lines: drop it"


def test_the_check_sees_the_tree() -> None:
    """The walk finds the package (a wrong SRC would make every check pass vacuously)."""
    assert (SRC / "domain" / "money.py") in _modules()
    assert len(_modules()) > 100
