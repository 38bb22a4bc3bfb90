"""The stand-in behaves as Stripe documents for the calls Tallybook makes, checked through
the official SDK; and what Tallybook sends and reads matches the SDK's types, which Stripe
generates from its OpenAPI description (so a renamed field fails here, not in production).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from stripe import params as stripe_params

from tests.integration.stripe_helpers import Env, bill, stripe_env
from tests.stripe_standin import API_KEY, Running, running_standin


@pytest.fixture
def standin() -> Iterator[Running]:
    with running_standin() as running:
        yield running


@pytest.fixture
def sdk(standin: Running) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": standin.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=5),
    )


def _fields(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__annotations__", {}))
    return names


def test_same_key_replays_and_other_parameters_are_an_idempotency_error(
    sdk: stripe.StripeClient, standin: Running
) -> None:
    first = sdk.v1.customers.create(
        params={"name": "A", "metadata": {"k": "1"}}, options={"idempotency_key": "key-1"}
    )
    again = sdk.v1.customers.create(
        params={"name": "A", "metadata": {"k": "1"}}, options={"idempotency_key": "key-1"}
    )
    assert again.id == first.id and len(standin.state.customers) == 1
    with pytest.raises(stripe.IdempotencyError):
        sdk.v1.customers.create(params={"name": "B"}, options={"idempotency_key": "key-1"})
    other = sdk.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "key-2"})
    assert other.id != first.id and len(standin.state.customers) == 2


def test_invoices_exclude_pending_items_and_items_go_on_their_draft(
    sdk: stripe.StripeClient, standin: Running
) -> None:
    customer = sdk.v1.customers.create(params={"metadata": {"tallybook_customer": "c"}})
    pending = sdk.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 999, "currency": "usd"}
    )
    invoice = sdk.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "usd",
            "pending_invoice_items_behavior": "exclude",
            "metadata": {"tallybook_invoice": "inv_1"},
        }
    )
    assert invoice.status == "draft" and invoice.total == 0
    sdk.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 1250, "currency": "usd"}
    )
    done = sdk.v1.invoices.finalize_invoice(invoice.id)
    assert (done.status, done.total, done.amount_due) == ("open", 1250, 1250)
    assert standin.state.items[pending.id]["invoice"] is None  # still pending
    with pytest.raises(stripe.InvalidRequestError):  # a finalized invoice takes no items
        sdk.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice.id, "amount": 1, "currency": "usd"}
        )
    found = sdk.v1.invoices.search(params={"query": "metadata['tallybook_invoice']:'inv_1'"})
    assert [i.id for i in found.data] == [invoice.id]
    voided = sdk.v1.invoices.void_invoice(invoice.id)
    assert voided.status == "void"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.void_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.invoices.retrieve("in_nope")
    assert missing.value.http_status == 404


def test_lines_beyond_ten_are_paged(sdk: stripe.StripeClient) -> None:
    customer = sdk.v1.customers.create()
    invoice = sdk.v1.invoices.create(params={"customer": customer.id, "currency": "usd"})
    for n in range(12):
        sdk.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": n + 1,
                "currency": "usd",
                "metadata": {"tallybook_line": str(n)},
            }
        )
    fetched = sdk.v1.invoices.retrieve(invoice.id)
    assert len(fetched.lines.data) == 10 and fetched.lines.has_more
    first = sdk.v1.invoices.line_items.list(invoice.id, params={"limit": 10})
    rest = sdk.v1.invoices.line_items.list(
        invoice.id, params={"limit": 10, "starting_after": first.data[-1].id}
    )
    assert len(first.data) + len(rest.data) == 12 and not rest.has_more


def test_what_tallybook_sends_and_reads_matches_the_sdk_types(
    db_url: str, standin: Running
) -> None:
    """Every parameter Tallybook sends is declared by the SDK's params types for that
    request, and every field of the stand-in's objects by the SDK's resource classes."""
    with stripe_env(db_url, standin) as env:
        _sync_one_of_each(env)
    declared = {
        ("POST", "/v1/customers"): stripe_params.CustomerCreateParams,
        ("GET", "/v1/customers/search"): stripe_params.CustomerSearchParams,
        ("POST", "/v1/invoices"): stripe_params.InvoiceCreateParams,
        ("GET", "/v1/invoices/search"): stripe_params.InvoiceSearchParams,
        ("POST", "/v1/invoiceitems"): stripe_params.InvoiceItemCreateParams,
        ("GET", "/v1/invoices"): stripe_params.InvoiceListParams,
    }
    seen = set()
    for method, path, sent in standin.app.received:
        key = (method, "/v1/invoices/{id}/finalize" if path.endswith("/finalize") else path)
        if key == ("POST", "/v1/invoices/{id}/finalize"):
            assert set(sent) <= _fields(stripe_params.InvoiceFinalizeInvoiceParams)
            continue
        if key in declared:
            seen.add(key)
            assert set(sent) <= _fields(declared[key]), (key, sent)
    assert seen >= {
        ("POST", "/v1/customers"),
        ("POST", "/v1/invoices"),
        ("POST", "/v1/invoiceitems"),
    }
    state = standin.state
    for obj, cls in (
        (next(iter(state.customers.values())), stripe.Customer),
        (state.invoice(next(iter(state.invoices))), stripe.Invoice),
        (next(iter(state.items.values())), stripe.InvoiceItem),
        (state.invoice(next(iter(state.invoices)))["lines"]["data"][0], stripe.InvoiceLineItem),
    ):
        assert set(obj) <= _fields(cls), (cls.__name__, set(obj) - _fields(cls))


def _sync_one_of_each(env: Env) -> Any:
    bill(env.client, {"acme": "monthly"})
    env.payments.sync.sync("default")
    now = datetime.now(UTC)
    window = {
        "provider": "stripe",
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }
    assert env.client.post("/v1/reconciliation-runs", json=window).status_code == 201
