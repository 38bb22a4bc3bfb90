"""The stand-in's state and rules: customers, invoice items and invoices as Stripe
documents them, for the calls Tallybook makes (nothing else).

Shapes follow Stripe's OpenAPI description (github.com/stripe/openapi, ``spec3`` and
``fixtures3``): ``customer``, ``invoiceitem``, ``invoice`` with an embedded ``lines``
list of ``line_item`` objects (the first ten; ``/v1/invoices/{id}/lines`` pages the
rest), ``search_result`` and ``list`` envelopes, ``error`` bodies with ``type``.

Rules kept: an invoice is created ``draft``; ``pending_invoice_items_behavior=exclude``
leaves the customer's pending items alone (``include``, the default, pulls them in); an
invoice item created with ``invoice`` goes on that draft only (same customer and
currency); finalizing numbers the invoice and opens it (an invoice with nothing due is
``paid`` at once, as Stripe does); only ``open`` or ``uncollectible`` invoices can be
voided; amounts are integers in minor units. All state changes happen on the stand-in's
event loop thread, one request at a time.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

EMBEDDED_LINES = 10


class StripeFailure(Exception):
    """An error answer: HTTP status and Stripe's ``error`` object."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": type_, "message": message}}
        if code is not None:
            self.body["error"]["code"] = code
        if param is not None:
            self.body["error"]["param"] = param


def invalid(message: str, param: str | None = None, status: int = 400) -> StripeFailure:
    return StripeFailure(status, "invalid_request_error", message, param=param)


def missing(kind: str, object_id: str) -> StripeFailure:
    return StripeFailure(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing"
    )


_SEARCH_CLAUSE = re.compile(r"metadata\['((?:[^'\\]|\\.)*)'\]:'((?:[^'\\]|\\.)*)'")


def parse_search(query: str) -> list[tuple[str, str]]:
    """``metadata['k']:'v' AND metadata['k2']:'v2'`` -> [(k, v), ...] (the subset of
    Stripe's search query language Tallybook uses); anything else is a 400."""
    clauses = []
    for part in query.split(" AND "):
        match = _SEARCH_CLAUSE.fullmatch(part.strip())
        if match is None:
            raise invalid(f"unsupported search query: {query!r}", "query")
        unescape = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
        clauses.append((unescape(match.group(1)), unescape(match.group(2))))
    return clauses


def _int(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", param) from None


def _bool(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise invalid(f"Invalid boolean: {value}", param)


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    meta = params.get("metadata") or {}
    if not isinstance(meta, dict):
        raise invalid("Invalid object", "metadata")
    return {str(k): str(v) for k, v in meta.items()}


@dataclass
class Standin:
    """Everything the fake Stripe account holds, plus counters tests read."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    clock: int | None = None  # fixed "now" (Unix seconds) when set

    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_sb{next(self._ids):014d}"

    # -- customers -------------------------------------------------------------------------

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "created": self.now(),
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": _metadata(params),
            "livemode": False,
            "currency": None,
            "balance": 0,
            "delinquent": False,
            "description": params.get("description"),
            "invoice_prefix": "TBSB",
        }
        self.customers[customer["id"]] = customer
        return customer

    def search(
        self, objects: dict[str, dict[str, Any]], params: dict[str, Any], url: str
    ) -> dict[str, Any]:
        clauses = parse_search(str(params.get("query", "")))
        limit = _int(params.get("limit", 10), "limit")
        found = [
            obj for obj in objects.values() if all(obj["metadata"].get(k) == v for k, v in clauses)
        ]
        found.sort(key=lambda o: (-o["created"], o["id"]))
        return {
            "object": "search_result",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "next_page": None,
            "url": url,
        }

    # -- invoice items -------------------------------------------------------------------

    def create_item(self, params: dict[str, Any]) -> dict[str, Any]:
        customer_id = params.get("customer")
        if customer_id not in self.customers:
            raise missing("customer", str(customer_id))
        if "amount" not in params:
            raise invalid("Missing required param: amount.", "amount")
        amount = _int(params["amount"], "amount")
        currency = str(params.get("currency", "")).lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid("Invalid currency", "currency")
        invoice_id = params.get("invoice")
        if invoice_id is not None:
            invoice = self.invoices.get(str(invoice_id))
            if invoice is None:
                raise missing("invoice", str(invoice_id))
            if invoice["status"] != "draft":
                raise invalid("You can only add invoice items to draft invoices.", "invoice")
            if invoice["customer"] != customer_id:
                raise invalid("The invoice belongs to another customer.", "invoice")
            if invoice["currency"] != currency:
                raise invalid("The invoice item's currency must match the invoice's.", "currency")
        now = self.now()
        item = {
            "id": self.new_id("ii"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "date": now,
            "description": params.get("description"),
            "discountable": True,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": _metadata(params),
            "period": {"start": now, "end": now},
            "proration": False,
            "quantity": 1,
            "tax_rates": [],
            "test_clock": None,
        }
        self.items[item["id"]] = item
        if invoice_id is not None:
            self._attach(self.invoices[str(invoice_id)], item)
        return item

    def _attach(self, invoice: dict[str, Any], item: dict[str, Any]) -> None:
        item["invoice"] = invoice["id"]
        line = {
            "id": self.new_id("il"),
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": invoice["id"],
            "livemode": False,
            "metadata": dict(item["metadata"]),
            "period": dict(item["period"]),
            "quantity": 1,
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {
                    "invoice_item": item["id"],
                    "proration": False,
                    "subscription": None,
                },
            },
        }
        self.lines[invoice["id"]].append(line)
        self._totals(invoice)

    # -- invoices ------------------------------------------------------------------------

    def create_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        customer_id = params.get("customer")
        if customer_id not in self.customers:
            raise missing("customer", str(customer_id))
        behavior = params.get("pending_invoice_items_behavior", "include")
        if behavior not in ("include", "exclude"):
            raise invalid(
                "Invalid pending_invoice_items_behavior", "pending_invoice_items_behavior"
            )
        currency = str(params.get("currency", "usd")).lower()
        invoice = {
            "id": self.new_id("in"),
            "object": "invoice",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "auto_advance": _bool(params.get("auto_advance", False), "auto_advance"),
            "collection_method": params.get("collection_method", "charge_automatically"),
            "created": self.now(),
            "currency": currency,
            "customer": customer_id,
            "description": params.get("description"),
            "discounts": [],
            "livemode": False,
            "metadata": _metadata(params),
            "number": None,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "paid_at": None,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
            "subtotal": 0,
            "total": 0,
            "total_discount_amounts": [],
            "hosted_invoice_url": None,
            "invoice_pdf": None,
        }
        self.invoices[invoice["id"]] = invoice
        self.lines[invoice["id"]] = []
        if behavior == "include":
            for item in self.items.values():
                if (
                    item["customer"] == customer_id
                    and item["invoice"] is None
                    and item["currency"] == currency
                ):
                    self._attach(invoice, item)
        self._totals(invoice)
        return invoice

    def _totals(self, invoice: dict[str, Any]) -> None:
        subtotal = sum(line["amount"] for line in self.lines[invoice["id"]])
        off = sum(d["amount"] for d in invoice["total_discount_amounts"])
        invoice["subtotal"] = subtotal
        invoice["total"] = subtotal - off
        due = max(0, invoice["total"])
        invoice["amount_due"] = due
        invoice["amount_remaining"] = max(0, due - invoice["amount_paid"])

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id)
        lines = self.lines[invoice_id]
        return {
            **invoice,
            "lines": {
                "object": "list",
                "data": [dict(line) for line in lines[:EMBEDDED_LINES]],
                "has_more": len(lines) > EMBEDDED_LINES,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
        }

    def finalize(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id)
        if invoice["status"] != "draft":
            raise invalid(f"This invoice is already {invoice['status']}.", status=400)
        if "auto_advance" in params:
            invoice["auto_advance"] = _bool(params["auto_advance"], "auto_advance")
        now = self.now()
        invoice["number"] = f"TBSB-{next(self._numbers):04d}"
        invoice["status_transitions"]["finalized_at"] = now
        invoice["status"] = "open"
        if invoice["amount_due"] == 0:
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = now
        return self.invoice(invoice_id)

    def void(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise invalid(
                f"You can only void open or uncollectible invoices; this one is "
                f"{invoice['status']}."
            )
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = self.now()
        return self.invoice(invoice_id)

    def pay(self, invoice_id: str) -> dict[str, Any]:
        """What a customer's payment does (tests call this directly)."""
        invoice = self.invoices[invoice_id]
        if invoice["status"] != "open":
            raise invalid(f"Invoice is {invoice['status']}, not open.")
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = self.now()
        return self.invoice(invoice_id)

    def add_coupon(self, invoice_id: str, amount_off: int) -> dict[str, Any]:
        """A discount added by hand in the Dashboard (tests call this directly)."""
        invoice = self.invoices[invoice_id]
        invoice["total_discount_amounts"].append({"amount": amount_off, "discount": "di_hand"})
        self._totals(invoice)
        return self.invoice(invoice_id)

    def list_lines(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        if invoice_id not in self.invoices:
            raise missing("invoice", invoice_id)
        return self._page(
            [dict(x) for x in self.lines[invoice_id]], params, f"/v1/invoices/{invoice_id}/lines"
        )

    def list_invoices(self, params: dict[str, Any]) -> dict[str, Any]:
        found = list(self.invoices.values())
        created = params.get("created")
        if isinstance(created, dict):
            for op, test in (
                ("gte", lambda a, b: a >= b),
                ("gt", lambda a, b: a > b),
                ("lte", lambda a, b: a <= b),
                ("lt", lambda a, b: a < b),
            ):
                if op in created:
                    bound = _int(created[op], f"created[{op}]")
                    found = [i for i in found if test(i["created"], bound)]
        elif created is not None:
            found = [i for i in found if i["created"] == _int(created, "created")]
        for name in ("customer", "status"):
            if name in params:
                found = [i for i in found if i[name] == params[name]]
        found.sort(key=lambda i: (-i["created"], i["id"]))
        page = self._page(found, params, "/v1/invoices")
        page["data"] = [self.invoice(i["id"]) for i in page["data"]]
        return page

    def _page(
        self, objects: list[dict[str, Any]], params: dict[str, Any], url: str
    ) -> dict[str, Any]:
        limit = _int(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise invalid("limit must be between 1 and 100", "limit")
        after = params.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in objects]
            if after not in ids:
                raise invalid(f"No such object: '{after}'", "starting_after")
            objects = objects[ids.index(after) + 1 :]
        return {
            "object": "list",
            "data": objects[:limit],
            "has_more": len(objects) > limit,
            "url": url,
        }

    # -- what tests check -------------------------------------------------------------------

    def invoices_for(self, tallybook_invoice: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.invoices.values()
            if i["metadata"].get("tallybook_invoice") == tallybook_invoice
        ]
