"""``tallybook backtest`` and ``tallybook export --to parquet`` against real stores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tallybook.cli import app
from tests.integration.test_backtests_api import CANDIDATE
from tests.integration.test_usage_percentiles_api import setup_ten


def test_backtest_command(
    client: TestClient, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_ten(client)
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps(CANDIDATE))
    out = tmp_path / "deltas.csv"
    args = ["backtest", "--from", "2025-01-01T00:00:00Z", "--to", "2025-02-01T00:00:00Z",
            "--plan", "metered", "--candidate", str(candidate), "--customers", "p4,p7,p10",
            "--csv", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "original 257.00, candidate 290.00, delta 33.00 (12.84%)" in result.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert {r["customer"]: r["delta"] for r in rows} == {
        "p4": "-12.00",
        "p7": "-15.00",
        "p10": "60.00",
    }
    listed = client.get("/v1/backtests").json()["data"]
    assert listed[0]["status"] == "succeeded"  # the job is visible through the API too
    audited = client.get("/v1/audit", params={"object": f"backtests/{listed[0]['id']}"})
    assert [e["action"] for e in audited.json()["data"]] == ["cli backtest"]

    missing = CliRunner().invoke(app, [*args[:5], "--plan", "nope", *args[7:]])
    assert missing.exit_code == 1 and "plan_not_found" in missing.output


def test_export_parquet_is_incremental(
    client: TestClient, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_ten(client)
    run = client.post("/v1/billing-runs", json={"as_of": "2025-02-01T02:00:00Z"})
    assert run.status_code == 200, run.text
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    target = tmp_path / "warehouse"
    first = CliRunner().invoke(app, ["export", "--to", "parquet", str(target)])
    assert first.exit_code == 0, first.output

    def rows(table: str) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        for path in sorted((target / table).glob("*.parquet")):
            found += pq.read_table(path).to_pylist()
        return found

    assert len(rows("events")) == 21 and len(rows("customers")) == 10
    assert len(rows("subscriptions")) == 10
    invoices = rows("invoices")
    assert len(invoices) == 10 and {i["status"] for i in invoices} == {"finalized"}
    lines = rows("invoice_lines")
    p10 = [line for line in lines if line["customer"] == "p10" and line["type"] == "usage"]
    assert p10[0]["amount"] == "90.00" and p10[0]["quantity"] == "9000"
    event = next(e for e in rows("events") if e["id"] == "p10-0")
    assert json.loads(str(event["properties"])) == {"calls": 5000}

    again = CliRunner().invoke(app, ["export", "--to", "parquet", str(target)])
    assert again.exit_code == 0, again.output
    assert len(rows("events")) == 21  # nothing new: no new rows written
    new = {"id": "fresh", "customer": "p1", "type": "api_call", "properties": {"calls": 1}}
    assert client.post("/v1/events", json=new).json()["accepted"] == 1
    third = CliRunner().invoke(app, ["export", "--to", "parquet", str(target)])
    assert third.exit_code == 0, third.output
    assert [e["id"] for e in rows("events")].count("fresh") == 1 and len(rows("events")) == 22
    marks = json.loads((target / "_watermarks.json").read_text())
    assert set(marks["default"]) >= {"events", "invoices", "invoice_lines"}
    full = CliRunner().invoke(
        app, ["export", "--to", "parquet", str(tmp_path / "all"), "--since", "2000-01-01T00:00:00Z"]
    )
    assert full.exit_code == 0 and len(list((tmp_path / "all" / "events").glob("*"))) == 1
    bad = CliRunner().invoke(app, ["export", "--to", "csv", str(target)])
    assert bad.exit_code == 2
