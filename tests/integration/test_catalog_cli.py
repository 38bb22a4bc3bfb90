"""``tallybook apply FILE``: a diff first, then the change, on the configured store."""

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


def _plan_version(db_url: str, tenant: str = "default") -> int | None:
    container = build(Settings(database_url=db_url))
    try:
        plans = container.catalog.list_plans(tenant)
        return plans[0].version if plans else None
    finally:
        container.close()


def test_apply_shows_the_diff_then_applies(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    preview = runner.invoke(app, ["apply", str(path), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "+ meter api_calls" in preview.output
    assert "dry run" in preview.output
    assert _plan_version(db_url) is None
    applied = runner.invoke(app, ["apply", str(path)])
    assert applied.exit_code == 0, applied.output
    assert "+ plan growth v1" in applied.output and "applied" in applied.output
    assert _plan_version(db_url) == 1
    path.write_text(CATALOG.replace('"0.003"', '"0.004"'))
    changed = runner.invoke(app, ["apply", str(path)])
    assert "~ plan growth v1 -> v2" in changed.output
    assert "charges[api].unit_amount: '0.003' -> '0.004'" in changed.output
    assert _plan_version(db_url) == 2
    again = runner.invoke(app, ["apply", str(path)])
    assert "nothing to change" in again.output


def test_apply_to_another_tenant(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    result = runner.invoke(app, ["apply", str(path), "--tenant", "acme-corp"])
    assert result.exit_code == 0, result.output
    assert _plan_version(db_url, "acme-corp") == 1
    assert _plan_version(db_url) is None


def test_apply_reports_problems(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("plans:\n  - {key: p, currency: USD, interval: fortnight}\n")
    result = runner.invoke(app, ["apply", str(path)])
    assert result.exit_code == 1
    assert "plans[0].interval" in result.output
    missing = runner.invoke(app, ["apply", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2


def test_apply_has_help() -> None:
    result = CliRunner().invoke(app, ["apply", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.output
