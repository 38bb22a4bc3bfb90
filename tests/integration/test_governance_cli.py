"""The governance workflow from the command line: propose with one key, approve with
another, each step audited with the key's name; the author cannot approve."""

from __future__ import annotations

import json
import re
from dataclasses import replace
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
      - {key: api, type: usage, meter: api_calls, model: per_unit, unit_amount: "0.10"}
"""


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    monkeypatch.setenv("TALLYBOOK_LOG_JSON", "false")
    monkeypatch.setenv("COLUMNS", "250")  # tables print whole ids
    return CliRunner()


def _new_key(runner: CliRunner, name: str, role: str) -> str:
    result = runner.invoke(app, ["keys", "create", "--name", name, "--role", role])
    assert result.exit_code == 0, result.output
    found = re.search(r"(tb_[A-Za-z0-9_-]+)", result.output)
    assert found is not None
    return found.group(1)


def test_propose_then_approve_from_the_cli(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    assert runner.invoke(app, ["apply", str(catalog)]).exit_code == 0
    editor = _new_key(runner, "alice", "pricing_editor")
    approver = _new_key(runner, "bob", "pricing_approver")
    changed = tmp_path / "change.yaml"
    changed.write_text(CATALOG.replace('"0.10"', '"0.12"'))
    propose = [
        "changes", "propose", str(changed), "--effective-at", "2027-01-01T00:00:00Z",
        "--reason", "cost of compute", "--key", editor,
    ]  # fmt: skip
    result = runner.invoke(app, propose)
    assert result.exit_code == 0, result.output
    assert "plans[growth].charges[api].unit_amount: 0.10 -> 0.12" in result.output
    change = re.search(r"(chg_[0-9a-f]+)", result.output)
    assert change is not None
    denied = runner.invoke(app, ["changes", "propose", str(changed), "--effective-at",
                                 "2027-01-01T00:00:00Z", "--key", approver])  # fmt: skip
    assert denied.exit_code == 1 and "forbidden" in denied.output
    own = runner.invoke(app, ["changes", "approve", change.group(1), "--key", editor])
    assert own.exit_code == 1 and "forbidden" in own.output  # an editor may not approve
    ok = runner.invoke(app, ["changes", "approve", change.group(1), "--key", approver])
    assert ok.exit_code == 0, ok.output
    assert "approved" in ok.output
    listed = runner.invoke(app, ["changes", "list", "--key", approver])
    assert change.group(1) in listed.output
    verify = runner.invoke(app, ["audit", "verify"])
    assert verify.exit_code == 0 and json.loads(verify.output)["ok"] is True
    container = build(Settings(database_url=db_url))
    try:
        entries = container.audit.list("default", limit=100).items
        decided = [(e.actor, e.action) for e in entries if e.object.startswith("catalog/")]
        assert decided == [("alice", "cli changes propose"), ("bob", "cli changes approve")]
        assert container.catalog.get_plan("default", "growth").version == 2
    finally:
        container.close()


def test_apply_is_refused_when_prices_need_approval(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    assert runner.invoke(app, ["apply", str(catalog)]).exit_code == 0
    container = build(Settings(database_url=db_url))
    try:
        rails = container.governance.guard_rails("default")
        container.governance.set_guard_rails("default", replace(rails, require_approval=True))
    finally:
        container.close()
    catalog.write_text(CATALOG.replace('"0.10"', '"0.12"'))
    refused = runner.invoke(app, ["apply", str(catalog)])
    assert refused.exit_code == 1 and "approval_required" in refused.output
