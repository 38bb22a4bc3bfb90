"""Reconciliation against the stand-in on both stores: a seeded mismatch case with one row
of each category and the right amounts, JSON and CSV, the ``reconciliation.drift`` fact,
the Prometheus gauge, ``--fix`` (and what it never touches), the daily scheduled run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tallybook.adapters.store.schema_webhooks import outbox
from tests.integration.stripe_helpers import Env, bill, stripe_env, stripe_settings
from tests.stripe_standin import Running, running_standin


@pytest.fixture
def standin() -> Iterator[Running]:
    with running_standin() as running:
        yield running


@pytest.fixture
def env(db_url: str, standin: Running) -> Iterator[Env]:
    with stripe_env(db_url, standin) as made:
        yield made


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "provider": "stripe",
        "from": (now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "to": (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }


def _seed(env: Env) -> dict[str, str]:
    """Five customers billed and pushed, then one of each kind of disagreement."""
    names = ["ok", "coupon", "paid", "missing"]
    invoices = bill(env.client, {name: "monthly" for name in names})  # 21.00 each
    by_customer = {i["customer"]: i["id"] for i in invoices}
    assert env.payments.sync.sync("default").synced == 4
    state = env.standin.state
    remote = {c: state.invoices_for(i)[0]["id"] for c, i in by_customer.items()}
    state.add_coupon(remote["coupon"], 500)  # a coupon added by hand: 21.00 -> 16.00
    state.pay(remote["paid"])  # paid in Stripe, the webhook never arrived
    del state.invoices[remote["missing"]]  # gone from Stripe
    # an invoice in Stripe naming a Tallybook invoice that does not exist (12.34)
    ghost = state.create_invoice(
        {
            "customer": state.invoices[remote["ok"]]["customer"],
            "currency": "usd",
            "pending_invoice_items_behavior": "exclude",
            "metadata": {"tallybook_tenant": "default", "tallybook_invoice": "inv_ghost"},
        }
    )
    state.create_item(
        {"customer": ghost["customer"], "invoice": ghost["id"], "amount": "1234", "currency": "usd"}
    )
    state.finalize(ghost["id"], {})
    # another tenant's invoice in the same Stripe account is not ours to judge
    other = state.create_invoice(
        {
            "customer": ghost["customer"],
            "currency": "usd",
            "metadata": {"tallybook_tenant": "other", "tallybook_invoice": "inv_x"},
        }
    )
    assert other["metadata"]["tallybook_tenant"] == "other"
    return {**by_customer, "ghost": ghost["id"]}


def test_a_seeded_mismatch_case_lists_one_of_each_category(env: Env) -> None:
    seeded = _seed(env)
    made = env.client.post("/v1/reconciliation-runs", json=_window())
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["status"] == "succeeded" and run["fix"] is False
    assert run["checked"] == 4
    assert run["counts"] == {
        "ok": 1,
        "amount_mismatch": 1,
        "status_mismatch": 1,
        "missing_remote": 1,
        "orphan_remote": 1,
    }
    rows = {row["invoice"]: row for row in run["rows"]}
    coupon = rows[seeded["coupon"]]
    assert (coupon["category"], coupon["local_total"], coupon["remote_total"], coupon["drift"]) == (
        "amount_mismatch",
        "21.00",
        "16.00",
        "5.00",
    )
    assert coupon["action"] == "review"
    paid = rows[seeded["paid"]]
    assert (paid["category"], paid["local_status"], paid["remote_status"], paid["drift"]) == (
        "status_mismatch",
        "finalized",
        "paid",
        "21.00",
    )
    assert paid["action"] == "mark_paid"
    missing = rows[seeded["missing"]]
    assert (missing["category"], missing["remote_id"], missing["drift"], missing["action"]) == (
        "missing_remote",
        None,
        "21.00",
        "push",
    )
    ghost = rows["inv_ghost"]
    assert (ghost["category"], ghost["remote_total"], ghost["drift"], ghost["action"]) == (
        "orphan_remote",
        "12.34",
        "12.34",
        "void_remote",
    )
    assert rows[seeded["ok"]]["category"] == "ok"
    assert run["drift_amount"] == "59.34"  # 5.00 + 21.00 + 21.00 + 12.34
    assert run["drift_amounts"] == {"USD": "59.34"}

    # GET, paged rows, CSV
    again = env.client.get(f"/v1/reconciliation-runs/{run['id']}").json()
    assert again["rows"] == run["rows"]
    page = env.client.get(f"/v1/reconciliation-runs/{run['id']}", params={"rows_limit": 2}).json()
    assert len(page["rows"]) == 2 and page["rows_next_cursor"]
    rest = env.client.get(
        f"/v1/reconciliation-runs/{run['id']}", params={"rows_cursor": page["rows_next_cursor"]}
    ).json()
    assert page["rows"] + rest["rows"] == run["rows"]
    text = env.client.get(f"/v1/reconciliation-runs/{run['id']}.csv")
    assert text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert sorted(r["category"] for r in table) == sorted(r["category"] for r in run["rows"])
    listed = env.client.get("/v1/reconciliation-runs").json()["data"]
    assert [r["id"] for r in listed] == [run["id"]]

    # the drift fact, and the gauge
    with env.container.engine.connect() as conn:
        facts = [
            dict(r.data)
            for r in conn.execute(
                select(outbox.c.data).where(outbox.c.type == "reconciliation.drift")
            )
        ]
    assert len(facts) == 1
    assert facts[0]["run"] == run["id"] and facts[0]["drift_amount"] == "59.34"
    assert facts[0]["counts"]["orphan_remote"] == 1
    metrics = env.client.get("/metrics").text
    gauge = 'tallybook_reconciliation_drift{currency="USD",provider="stripe",tenant="default"}'
    assert f"{gauge} 59.34" in metrics

    # read-only: nothing changed on either side
    assert env.client.get(f"/v1/invoices/{seeded['paid']}").json()["status"] == "finalized"
    assert env.standin.state.invoices[seeded["ghost"]]["status"] == "open"


def test_fix_pushes_pulls_and_voids_but_never_overwrites_an_amount(env: Env) -> None:
    seeded = _seed(env)
    window = _window()
    start = datetime.fromisoformat(window["from"])
    end = datetime.fromisoformat(window["to"])
    run = env.payments.reconciliation.run("default", start, end, fix=True, trigger="cli")
    rows = {row.invoice: row for _, row in env.payments.reconciliation.rows("default", run.id)}
    assert rows[seeded["missing"]].applied and rows[seeded["paid"]].applied
    assert rows["inv_ghost"].applied
    assert not rows[seeded["coupon"]].applied
    state = env.standin.state
    assert env.client.get(f"/v1/invoices/{seeded['paid']}").json()["status"] == "paid"
    assert state.invoices[seeded["ghost"]]["status"] == "void"
    assert len(state.invoices_for(seeded["missing"])) == 1
    after = env.payments.reconciliation.run("default", start, end)
    assert {k: v for k, v in after.counts.items() if v} == {
        "ok": 4,  # the voided ghost collects nothing: ok
        "amount_mismatch": 1,
    }
    assert after.drift == {"USD": Decimal("5.00")}
    coupon = state.invoices_for(seeded["coupon"])[0]
    assert coupon["total"] == 1600  # never overwritten


def test_a_local_void_with_an_open_remote_is_a_status_mismatch_fixed_by_voiding(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly"})
    env.payments.sync.sync("default")
    assert env.client.post(f"/v1/invoices/{invoices[0]['id']}/void").status_code == 200
    window = _window()
    run = env.client.post("/v1/reconciliation-runs", json=window).json()
    row = run["rows"][0]
    assert (row["category"], row["local_status"], row["remote_status"], row["action"]) == (
        "status_mismatch",
        "void",
        "open",
        "void_remote",
    )


def test_the_scheduler_runs_one_reconciliation_a_day(env: Env) -> None:
    bill(env.client, {"acme": "monthly"})
    env.payments.sync.run_due()
    env.payments.reconciliation.run_due()
    env.payments.reconciliation.run_due()  # the same day: no second run
    runs = env.client.get("/v1/reconciliation-runs").json()["data"]
    assert [(r["trigger"], r["checked"], r["drift_amount"]) for r in runs] == [("schedule", 1, "0")]


def test_bad_requests_are_coded_4xx(env: Env) -> None:
    window = _window()
    wrong = env.client.post("/v1/reconciliation-runs", json={**window, "to": window["from"]})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_window")
    other = env.client.post("/v1/reconciliation-runs", json={**window, "provider": "paypal"})
    assert other.status_code == 422
    extra = env.client.post("/v1/reconciliation-runs", json={**window, "fix": True})
    assert extra.status_code == 422  # fixing is the CLI's job
    assert env.client.get("/v1/reconciliation-runs/rec_nope").status_code == 404
    assert env.client.get("/v1/reconciliation-runs", params={"limit": 0}).status_code == 422
    assert env.client.get("/v1/reconciliation-runs", params={"bogus": 1}).status_code == 400


def test_cli_reconcile_and_sync(db_url: str, standin: Running, monkeypatch: Any) -> None:
    from tallybook.cli import app

    settings = stripe_settings(db_url, standin)
    for name, value in {
        "TALLYBOOK_DATABASE_URL": db_url,
        "TALLYBOOK_STRIPE_API_KEY": settings.stripe_api_key.get_secret_value(),  # type: ignore[union-attr]
        "TALLYBOOK_STRIPE_API_BASE": standin.url,
        "TALLYBOOK_LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(name, value)
    with stripe_env(db_url, standin) as env:
        bill(env.client, {"acme": "monthly", "zeta": "monthly"})
    runner = CliRunner()
    dry = runner.invoke(app, ["sync", "stripe", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 invoices would be synced" in dry.output
    assert standin.state.requests == []
    done = runner.invoke(app, ["sync", "stripe"])
    assert done.exit_code == 0, done.output
    assert "2 synced" in done.output
    clean = runner.invoke(app, ["reconcile", "stripe"])
    assert clean.exit_code == 0, clean.output
    assert "checked 2: 2 ok" in clean.output
    first = next(iter(standin.state.invoices))
    standin.state.pay(first)
    drift = runner.invoke(app, ["reconcile", "stripe"])
    assert drift.exit_code == 1 and "status_mismatch" in drift.output
    fixed = runner.invoke(app, ["reconcile", "stripe", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed 1 of 1" in fixed.output
    assert "checked 2: 2 ok" in runner.invoke(app, ["reconcile", "stripe"]).output
    # every run but the dry one reached the audit chain (cli:<os user> as the actor)
    with stripe_env(db_url, standin) as env:
        entries = env.client.get("/v1/audit", params={"limit": 100}).json()["data"]
        actions = [e["action"] for e in entries if e["actor"].startswith("cli:")]
        assert actions == [
            "cli sync stripe",
            "cli reconcile stripe",
            "cli reconcile stripe",
            "cli reconcile stripe --fix",
            "cli reconcile stripe",
        ]
        assert env.client.get("/v1/audit/verify").json()["ok"] is True
