"""CLI mutations reach the same audit chain as the API (``AuditService.record``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tallybook.bootstrap import build
from tallybook.cli import app
from tallybook.config import Settings

CATALOG = """\
meters:
  - {key: api_calls, event_type: api_call, aggregation: count}
plans:
  - key: growth
    currency: USD
    interval: month
    charges:
      - {key: api, type: usage, meter: api_calls, model: per_unit, unit_amount: "0.003"}
"""


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    monkeypatch.setenv("TALLYBOOK_LOG_JSON", "false")
    return CliRunner()


def test_cli_mutations_are_audited(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "catalog.yaml"
    file.write_text(CATALOG)
    assert runner.invoke(app, ["keys", "create", "--name", "ops"]).exit_code == 0
    assert runner.invoke(app, ["apply", str(file)]).exit_code == 0
    run = ["billing", "run", "--as-of", "2026-02-01T00:00:00Z"]
    assert runner.invoke(app, run).exit_code == 0
    container = build(Settings(database_url=db_url))
    try:
        entries = container.audit.list("default", limit=100).items
        assert [e.action for e in entries] == ["cli keys create", "cli apply", "cli billing run"]
        assert all(e.actor.startswith("cli:") and e.actor_key == "cli" for e in entries)
        assert entries[1].object == "catalog"
        assert entries[1].after["plans"][0]["key"] == "growth"
        assert container.audit.verify("default").ok
    finally:
        container.close()
