"""Guard rails: every CLI command answers --help, and the settings are documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from tallybook.cli import app
from tallybook.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tallybook")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_every_setting_is_documented_in_operations_guide() -> None:
    text = (DOCS / "operations.md").read_text()
    for name in Settings.model_fields:
        assert f"TALLYBOOK_{name.upper()}" in text, name
