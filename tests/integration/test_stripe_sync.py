"""Stripe sync end to end on both stores, against the stateful stand-in: a month billed,
pushed, paid in Stripe, paid locally after the signed webhook; retried pushes create
nothing twice; faults (timeouts after commit, 500, 429 with Retry-After); bad signatures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tallybook.adapters.store.schema_payments import provider_events
from tallybook.adapters.store.schema_webhooks import outbox
from tests.integration.stripe_helpers import Env, bill, stripe_env
from tests.stripe_standin import Fault, Running, running_standin, signed_event


@pytest.fixture
def standin() -> Iterator[Running]:
    with running_standin() as running:
        yield running


@pytest.fixture
def env(db_url: str, standin: Running) -> Iterator[Env]:
    with stripe_env(db_url, standin) as made:
        yield made


def _remote(env: Env, invoice_id: str) -> dict[str, Any]:
    found = env.standin.state.invoices_for(invoice_id)
    assert len(found) == 1, f"{invoice_id} exists {len(found)} times in Stripe"
    return env.standin.state.invoice(found[0]["id"])


def _facts(env: Env, kind: str) -> list[dict[str, Any]]:
    with env.container.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.data).where(outbox.c.type == kind)).all()
    return [dict(row.data) for row in rows]


def test_a_month_billed_pushed_paid_in_stripe_and_paid_here(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly", "zeta": "monthly"}, calls=6)
    assert len(invoices) == 2
    before = env.client.get(f"/v1/invoices/{invoices[0]['id']}").json()
    assert before["external"] == {"stripe": {"id": None, "status": "pending", "error": None}}

    result = env.payments.sync.sync("default")
    assert (result.synced, result.failed, result.pending) == (2, 0, 0), result.errors

    state = env.standin.state
    assert len(state.customers) == 2
    for invoice in invoices:
        remote = _remote(env, invoice["id"])
        assert remote["status"] == "open"
        assert remote["currency"] == "usd"
        assert remote["total"] == 2150  # 20.00 + 6 x 0.25, in cents
        assert remote["metadata"]["tallybook_invoice"] == invoice["id"]
        assert remote["metadata"]["tallybook_number"] == invoice["number"]
        amounts = sorted(line["amount"] for line in remote["lines"]["data"])
        assert amounts == [150, 2000]  # one item per line, Tallybook's rounded amounts
        customer = state.customers[remote["customer"]]
        assert customer["metadata"]["tallybook_customer"] == invoice["customer"]
        shown = env.client.get(f"/v1/invoices/{invoice['id']}").json()
        assert shown["external"]["stripe"] == {
            "id": remote["id"],
            "status": "synced",
            "error": None,
        }

    # the customer pays in Stripe; Stripe sends invoice.paid (signed)
    acme = next(i for i in invoices if i["customer"] == "acme")
    paid = state.pay(_remote(env, acme["id"])["id"])
    body, headers = signed_event("invoice.paid", paid)
    answer = env.client.post("/v1/providers/stripe/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "marked_paid"
    assert env.client.get(f"/v1/invoices/{acme['id']}").json()["status"] == "paid"
    assert [f["invoice"] for f in _facts(env, "invoice.paid")] == [acme["id"]]
    audited = env.client.get("/v1/audit", params={"object": f"invoices/{acme['id']}"}).json()
    assert [(e["actor"], e["action"]) for e in audited["data"]] == [
        ("stripe", "POST /v1/providers/stripe/webhook")
    ]
    assert audited["data"][0]["reason"].startswith("Stripe event ")

    # the same event again (Stripe retries): acknowledged, nothing more happens
    again = env.client.post("/v1/providers/stripe/webhook", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(_facts(env, "invoice.paid")) == 1
    audited = env.client.get("/v1/audit", params={"object": f"invoices/{acme['id']}"}).json()
    assert len(audited["data"]) == 1
    assert env.client.get("/v1/audit/verify").json()["ok"] is True

    # a later pass pushes nothing again
    count = len(state.invoices), len(state.items), len(state.customers)
    assert env.payments.sync.sync("default").synced == 0
    assert (len(state.invoices), len(state.items), len(state.customers)) == count


def test_an_old_event_after_a_newer_one_is_judged_on_the_refetched_invoice(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly"})
    env.payments.sync.sync("default")
    remote = _remote(env, invoices[0]["id"])
    # a stale invoice.paid for an invoice that is still open in Stripe: nothing changes
    body, headers = signed_event("invoice.paid", {**remote, "status": "paid"})
    answer = env.client.post("/v1/providers/stripe/webhook", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["outcome"] == "remote_open"
    assert env.client.get(f"/v1/invoices/{invoices[0]['id']}").json()["status"] == "finalized"


def test_bad_signature_is_400_and_changes_nothing(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly"})
    env.payments.sync.sync("default")
    paid = env.standin.state.pay(_remote(env, invoices[0]["id"])["id"])
    body, headers = signed_event("invoice.paid", paid, secret="whsec_someone_else")
    answer = env.client.post("/v1/providers/stripe/webhook", content=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"
    body, good = signed_event("invoice.paid", paid)
    tampered = body.replace(b'"invoice.paid"', b'"invoice.paid" ')
    assert (
        env.client.post("/v1/providers/stripe/webhook", content=tampered, headers=good).status_code
        == 400
    )
    stale = signed_event("invoice.paid", paid, timestamp=int(time.time()) - 3600)
    assert (
        env.client.post(
            "/v1/providers/stripe/webhook", content=stale[0], headers=stale[1]
        ).status_code
        == 400
    )
    missing = env.client.post("/v1/providers/stripe/webhook", content=body)
    assert missing.status_code == 400
    assert env.client.get(f"/v1/invoices/{invoices[0]['id']}").json()["status"] == "finalized"
    assert _facts(env, "invoice.paid") == []
    with env.container.engine.connect() as conn:
        assert conn.execute(select(provider_events)).all() == []


def test_a_retried_push_creates_nothing_twice(env: Env) -> None:
    """Every create times out after Stripe committed it: the retry with the same key
    replays Stripe's first answer, so one customer, one invoice and one item per line."""
    app = env.standin.app
    for path in (
        r"/v1/customers",
        r"/v1/invoices",
        r"/v1/invoiceitems",
        r"/v1/invoices/.*/finalize",
    ):
        app.faults.append(Fault("POST", path, "timeout", times=1, delay=3.0))
    invoices = bill(env.client, {"acme": "monthly"})
    result = env.payments.sync.sync("default")
    assert (result.synced, result.failed) == (1, 0), result.errors
    state = env.standin.state
    assert len(state.customers) == 1
    remote = _remote(env, invoices[0]["id"])
    assert len(remote["lines"]["data"]) == 2 and remote["total"] == 2100
    assert app.replays == 4  # each timed-out create was answered from the idempotency store
    assert all(f.hits == 1 for f in app.faults)


def test_500s_are_retried_and_429_retry_after_is_honoured(env: Env) -> None:
    app = env.standin.app
    app.faults.append(Fault("POST", r"/v1/invoices", "500", times=2))
    app.faults.append(Fault("POST", r"/v1/invoiceitems", "429", times=1, retry_after=1))
    invoices = bill(env.client, {"acme": "monthly"})
    started = time.monotonic()
    result = env.payments.sync.sync("default")
    assert (result.synced, result.failed) == (1, 0), result.errors
    assert time.monotonic() - started >= 1.0  # waited the Retry-After
    assert env.payments.sync.gate.pauses == 1
    assert _remote(env, invoices[0]["id"])["total"] == 2100
    statuses = [status for method, path, status in app.log if path == "/v1/invoices"]
    assert statuses == [500, 500, 200]


def test_a_long_retry_after_leaves_the_invoice_pending_with_its_error(env: Env) -> None:
    app = env.standin.app
    app.faults.append(Fault("POST", r"/v1/invoices", "429", times=1, retry_after=600))
    invoices = bill(env.client, {"acme": "monthly"})
    result = env.payments.sync.sync("default")
    assert (result.synced, result.pending) == (0, 1)
    shown = env.client.get(f"/v1/invoices/{invoices[0]['id']}").json()["external"]["stripe"]
    assert shown["status"] == "pending" and shown["error"].startswith("rate_limited")
    assert env.payments.sync.sync("default").synced == 0  # not due for ten minutes
    assert env.standin.state.invoices_for(invoices[0]["id"]) == []


def test_amounts_in_minor_units_per_currency_and_unrepresentable_ones_fail(env: Env) -> None:
    bill(env.client, {"tokyo": "yen", "kuwait": "dinar"})
    result = env.payments.sync.sync("default")
    assert (result.synced, result.failed) == (1, 1)
    invoices = env.client.get("/v1/invoices", params={"status": "finalized"}).json()["data"]
    yen = next(i for i in invoices if i["currency"] == "JPY")
    assert _remote(env, yen["id"])["total"] == 1500  # zero-decimal: 1500 JPY is 1500
    dinar = next(i for i in invoices if i["currency"] == "KWD")
    shown = env.client.get(f"/v1/invoices/{dinar['id']}").json()["external"]["stripe"]
    assert shown["status"] == "failed"
    assert shown["error"].startswith("amount_not_representable")  # 5.125 KWD: last digit 0
    assert env.standin.state.invoices_for(dinar["id"]) == []  # nothing was sent


def test_a_voided_invoice_is_voided_in_stripe(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly"})
    env.payments.sync.sync("default")
    assert env.client.post(f"/v1/invoices/{invoices[0]['id']}/void").status_code == 200
    assert env.payments.sync.sync("default").synced == 1
    assert _remote(env, invoices[0]["id"])["status"] == "void"
    assert env.payments.sync.sync("default").synced == 0


def test_dry_run_sends_nothing(env: Env) -> None:
    bill(env.client, {"acme": "monthly", "kuwait": "dinar"})
    planned = env.payments.sync.plan("default")
    assert sorted((p.customer, p.action, p.error is None) for p in planned) == [
        ("acme", "push", True),
        ("kuwait", "push", False),
    ]
    assert env.standin.state.requests == []


def test_webhook_refuses_when_stripe_is_not_configured(client: Any) -> None:
    answer = client.post("/v1/providers/stripe/webhook", content=b"{}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "provider_not_configured"


def test_an_invoice_paid_here_before_any_push_is_never_pushed(env: Env) -> None:
    invoices = bill(env.client, {"acme": "monthly", "zeta": "monthly"})
    paid_here = invoices[0]["id"]
    assert env.client.post(f"/v1/invoices/{paid_here}/pay").status_code == 200
    result = env.payments.sync.sync("default")
    assert result.synced == 1  # only the other one: Stripe would collect this one again
    assert env.standin.state.invoices_for(paid_here) == []
    assert env.client.get(f"/v1/invoices/{paid_here}").json()["external"] == {}


def test_exclusive_tax_is_pushed_as_its_own_item_and_the_totals_agree(env: Env) -> None:
    """A taxed invoice (here a credit purchase at 19 % exclusive, issue 16) reaches Stripe
    with one item per exclusive rate, so both totals include the tax and the paid webhook
    marks it paid instead of reporting an amount mismatch."""
    client = env.client
    rate = {"id": "de_vat", "name": "DE VAT", "percentage": "19", "country": "DE"}
    assert client.post("/v1/tax-rates", json=rate).status_code == 201
    assert client.post("/v1/customers", json={"id": "de", "currency": "USD"}).status_code == 201
    assert client.patch("/v1/customers/de", json={"tax_rates": ["de_vat"]}).status_code == 200
    grant = {"id": "p1", "amount": "100.00", "currency": "USD", "category": "paid"}
    assert client.post("/v1/customers/de/credit-grants", json=grant).status_code == 201
    (invoice,) = client.get("/v1/invoices", params={"customer": "de"}).json()["data"]
    assert (invoice["tax_total"], invoice["total"]) == ("19.00", "119.00")

    result = env.payments.sync.sync("default")
    assert (result.synced, result.failed) == (1, 0), result.errors
    remote = _remote(env, invoice["id"])
    assert remote["total"] == 11900
    items = sorted((line["amount"], line["description"]) for line in remote["lines"]["data"])
    assert items == [(1900, "DE VAT (19 %)"), (10000, invoice["lines"][0]["description"])]

    paid = env.standin.state.pay(remote["id"])
    body, headers = signed_event("invoice.paid", paid)
    answer = client.post("/v1/providers/stripe/webhook", content=body, headers=headers)
    assert answer.json()["outcome"] == "marked_paid", answer.text
    assert client.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid"
