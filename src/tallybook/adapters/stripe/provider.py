"""``ports.PaymentProvider`` for Stripe, with the official SDK (``stripe.StripeClient``).

Each method is one API request (re-fetching an invoice with more than ten lines pages its
lines). Request shapes follow Stripe's OpenAPI description (github.com/stripe/openapi,
``spec3``): ``POST /v1/customers``, ``GET /v1/customers/search``, ``POST /v1/invoices``
(``pending_invoice_items_behavior=exclude``, ``auto_advance=false``), ``POST
/v1/invoiceitems`` (``invoice`` set: the item goes on that draft, never a pending one),
``POST /v1/invoices/{id}/finalize``, ``POST /v1/invoices/{id}/void``, ``GET
/v1/invoices``, ``GET /v1/invoices/search``, ``GET /v1/invoices/{id}`` and ``/lines``.

The SDK's own retries are off (``max_network_retries=0``): the sync service decides when
to retry, with the same idempotency key. SDK errors become ``ProviderError`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import stripe

from tallybook.adapters.stripe.amounts import AmountNotRepresentable, from_stripe, to_stripe
from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.ports import (
    ProviderError,
    ProviderEvent,
    PushLine,
    RemoteInvoice,
    SignatureInvalid,
)

T = TypeVar("T")
EMBEDDED_LINES = 10  # Stripe embeds the first ten lines in an invoice object


def _quote(value: str) -> str:
    """A value in Stripe's search query language (single quotes, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _retry_after(headers: Any) -> int | None:
    value = None if headers is None else headers.get("Retry-After") or headers.get("retry-after")
    try:
        return None if value is None else max(0, int(str(value).strip()))
    except ValueError:
        return None


def translate(exc: stripe.StripeError) -> ProviderError:
    """Map an SDK error to the port's ``ProviderError`` (retryable or not)."""
    message = str(getattr(exc, "user_message", None) or exc._message or type(exc).__name__)
    if isinstance(exc, stripe.RateLimitError):
        return ProviderError(
            message, code="rate_limited", retryable=True, retry_after=_retry_after(exc.headers)
        )
    if isinstance(exc, stripe.APIConnectionError):
        return ProviderError(message, code="connection_error", retryable=True)
    if isinstance(exc, stripe.IdempotencyError):
        return ProviderError(message, code="idempotency_error", retryable=False)
    if isinstance(exc, stripe.InvalidRequestError):
        code = "not_found" if exc.http_status == 404 else (exc.code or "invalid_request")
        return ProviderError(message, code=code, retryable=False)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderError(message, code="authentication_error", retryable=False)
    status = exc.http_status or 0
    if isinstance(exc, stripe.APIError) or status >= 500:
        return ProviderError(message, code="server_error", retryable=True)
    return ProviderError(message, code="provider_error", retryable=False)


class StripeProvider:
    """Stripe through ``stripe.StripeClient`` (``api_base`` points tests at a stand-in)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        timeout: float = 30.0,
    ):
        addresses: Any = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=addresses,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._webhook_secret = webhook_secret

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except stripe.StripeError as exc:
            raise translate(exc) from None

    # -- amounts -----------------------------------------------------------------------

    def check_amounts(self, currency: str, amounts: Sequence[Decimal]) -> None:
        for amount in amounts:
            self._minor(amount, currency)

    def _minor(self, amount: Decimal, currency: str) -> int:
        try:
            return to_stripe(amount, currency)
        except AmountNotRepresentable as exc:
            raise ProviderError(
                str(exc), code="amount_not_representable", retryable=False
            ) from None

    # -- customers ---------------------------------------------------------------------

    def find_customer(self, tenant_id: str, customer_id: str) -> str | None:
        query = (
            f"metadata['tallybook_tenant']:{_quote(tenant_id)} AND "
            f"metadata['tallybook_customer']:{_quote(customer_id)}"
        )
        found = self._call(
            lambda: self._client.v1.customers.search(params={"query": query, "limit": 10})
        )
        ids = sorted((c["created"], c["id"]) for c in _dicts(found.data))
        return ids[0][1] if ids else None

    def create_customer(self, tenant_id: str, customer: Customer, key: str) -> str:
        params: Any = {
            "metadata": {"tallybook_tenant": tenant_id, "tallybook_customer": customer.id}
        }
        if customer.name:
            params["name"] = customer.name
        if customer.email:
            params["email"] = customer.email
        created = self._call(
            lambda: self._client.v1.customers.create(
                params=params, options={"idempotency_key": key}
            )
        )
        return str(created.id)

    # -- invoices ----------------------------------------------------------------------

    def find_invoice(self, tenant_id: str, invoice_id: str) -> RemoteInvoice | None:
        query = (
            f"metadata['tallybook_tenant']:{_quote(tenant_id)} AND "
            f"metadata['tallybook_invoice']:{_quote(invoice_id)}"
        )
        found = self._call(
            lambda: self._client.v1.invoices.search(params={"query": query, "limit": 10})
        )
        if not found.data:
            return None
        first = min(_dicts(found.data), key=lambda i: (i["created"], i["id"]))
        return self.get_invoice(str(first["id"]))

    def get_invoice(self, remote_id: str) -> RemoteInvoice:
        invoice = self._call(lambda: self._client.v1.invoices.retrieve(remote_id)).to_dict()
        keys = _line_keys(invoice["lines"]["data"])
        if invoice["lines"]["has_more"]:
            keys = self._all_line_keys(remote_id)
        return _remote(invoice, keys)

    def _all_line_keys(self, remote_id: str) -> frozenset[str]:
        keys: set[str] = set()
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after is not None:
                params["starting_after"] = after
            page = self._call(
                lambda p=params: self._client.v1.invoices.line_items.list(remote_id, params=p)  # type: ignore[misc]
            )
            data = _dicts(page.data)
            keys |= _line_keys(data)
            if not page.has_more or not data:
                return frozenset(keys)
            after = str(data[-1]["id"])

    def create_invoice(
        self, tenant_id: str, invoice: Invoice, remote_customer: str, key: str
    ) -> RemoteInvoice:
        params: Any = {
            "customer": remote_customer,
            "currency": invoice.currency.lower(),
            "auto_advance": False,  # finalized by us once every line is on it
            "collection_method": "charge_automatically",
            "pending_invoice_items_behavior": "exclude",
            "metadata": {
                "tallybook_tenant": tenant_id,
                "tallybook_invoice": invoice.id,
                "tallybook_number": invoice.display_number or "",
            },
        }
        if invoice.display_number:
            params["description"] = f"Tallybook {invoice.display_number}"
        created = self._call(
            lambda: self._client.v1.invoices.create(params=params, options={"idempotency_key": key})
        ).to_dict()
        return _remote(created, _line_keys(created["lines"]["data"]))

    def add_line(
        self, remote: RemoteInvoice, tenant_id: str, invoice: Invoice, line: PushLine, key: str
    ) -> None:
        params: Any = {
            "customer": remote.customer,
            "invoice": remote.id,
            "currency": invoice.currency.lower(),
            "amount": self._minor(line.amount, invoice.currency),
            "description": line.description[:500] or "-",
            "metadata": {
                "tallybook_tenant": tenant_id,
                "tallybook_invoice": invoice.id,
                "tallybook_line": line.key,
            },
        }
        self._call(
            lambda: self._client.v1.invoice_items.create(
                params=params, options={"idempotency_key": key}
            )
        )

    def finalize(self, remote_id: str, key: str) -> RemoteInvoice:
        done = self._call(
            lambda: self._client.v1.invoices.finalize_invoice(
                remote_id, params={"auto_advance": True}, options={"idempotency_key": key}
            )
        ).to_dict()
        return _remote(done, _line_keys(done["lines"]["data"]))

    def void(self, remote_id: str, key: str) -> RemoteInvoice:
        done = self._call(
            lambda: self._client.v1.invoices.void_invoice(
                remote_id, options={"idempotency_key": key}
            )
        ).to_dict()
        return _remote(done, _line_keys(done["lines"]["data"]))

    def invoices_since(self, tenant_id: str, since: datetime) -> Iterator[RemoteInvoice]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "created": {"gte": int(since.timestamp())}}
            if after is not None:
                params["starting_after"] = after
            page = self._call(lambda p=params: self._client.v1.invoices.list(params=p))  # type: ignore[misc]
            data = _dicts(page.data)
            for invoice in data:
                meta = invoice.get("metadata") or {}
                if meta.get("tallybook_tenant") == tenant_id and meta.get("tallybook_invoice"):
                    yield _remote(invoice, frozenset())
            if not page.has_more or not data:
                return
            after = str(data[-1]["id"])

    # -- webhooks ----------------------------------------------------------------------

    def parse_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        if not self._webhook_secret:
            raise SignatureInvalid("TALLYBOOK_STRIPE_WEBHOOK_SECRET is not set")
        try:
            event = stripe.Webhook.construct_event(body, signature or "", self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise SignatureInvalid(str(exc)) from None
        obj: dict[str, Any] = event.data.object.to_dict()
        meta = obj.get("metadata") or {}
        return ProviderEvent(
            id=str(event.id),
            type=str(event.type),
            object_id=None if obj.get("id") is None else str(obj.get("id")),
            tenant=meta.get("tallybook_tenant"),
            invoice=meta.get("tallybook_invoice"),
        )


def _dicts(objects: Any) -> list[dict[str, Any]]:
    return [obj.to_dict() for obj in objects]


def _line_keys(lines: list[dict[str, Any]]) -> frozenset[str]:
    keys = set()
    for line in lines:
        key = (line.get("metadata") or {}).get("tallybook_line")
        if key is not None:
            keys.add(str(key))
    return frozenset(keys)


def _remote(invoice: dict[str, Any], line_keys: frozenset[str]) -> RemoteInvoice:
    currency = str(invoice["currency"]).upper()
    meta = invoice.get("metadata") or {}
    customer = invoice.get("customer")
    if isinstance(customer, dict):  # expanded
        customer = customer.get("id")
    return RemoteInvoice(
        id=str(invoice["id"]),
        status=str(invoice["status"]),
        currency=currency,
        total=from_stripe(int(invoice["total"]), currency),
        customer=None if customer is None else str(customer),
        tenant=meta.get("tallybook_tenant"),
        invoice=meta.get("tallybook_invoice"),
        created=datetime.fromtimestamp(int(invoice["created"]), UTC),
        line_keys=line_keys,
    )
