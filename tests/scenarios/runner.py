"""Drive one scenario file through the public HTTP API with a controlled clock.

The format is ``../shared/examples/README.md``; the extensions this runner adds are in
``tests/scenarios/README.md``. The clock never goes backwards: it starts at the earliest
subscription start, moves to the latest timestamp of each ``events`` batch (events
arrive after they happen) and to each ``billing_run``'s ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from httpx import Response

from tallybook.adapters.clock import FixedClock

Step = Mapping[str, Any]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def text(value: Any) -> str:
    """Scenario values as the API wants them (YAML may have parsed dates and numbers)."""
    if isinstance(value, datetime):
        return instant(value).isoformat().replace("+00:00", "Z")
    return str(value)


def same_decimal(actual: Any, expected: Any) -> bool:
    return actual is not None and Decimal(str(actual)) == Decimal(str(expected))


@dataclass
class Run:
    client: TestClient
    clock: FixedClock
    scenario: dict[str, Any]
    subscriptions: dict[str, str] = field(default_factory=dict)  # customer -> latest sub id
    last: Response | None = None
    log: list[str] = field(default_factory=list)

    # -- set-up -------------------------------------------------------------------------

    def setup(self) -> None:
        starts = [
            instant(s["start"]) for s in self.scenario.get("subscriptions", []) if "start" in s
        ]
        if "clock" in self.scenario:
            self.clock.set(instant(self.scenario["clock"]))
        elif starts:
            self.clock.set(min(starts))
        if "tenant" in self.scenario:
            self.call("PATCH", "/v1/tenant", self.scenario["tenant"], expect=200)
        self.call("PUT", "/v1/catalog", self.scenario["catalog"], expect=200)
        for customer in self.scenario.get("customers", []):
            self.call(
                "POST", "/v1/customers", {k: text(v) for k, v in customer.items()}, expect=201
            )
        for subscription in self.scenario.get("subscriptions", []):
            self.subscribe(subscription, expect=201)

    def subscribe(self, subscription: Mapping[str, Any], expect: int | None = None) -> None:
        body = _json_ready(dict(subscription))
        response = self.call("POST", "/v1/subscriptions", body, expect=expect)
        if response.status_code == 201:
            self.subscriptions[subscription["customer"]] = response.json()["id"]

    # -- steps --------------------------------------------------------------------------

    def step(self, step: Step) -> None:
        (kind, value), *rest = step.items()
        assert not rest, f"one action per step, got {list(step)}"
        handler: Callable[[Any], None] | None = getattr(self, f"do_{kind}", None)
        assert handler is not None, f"unknown step {kind!r}"
        self.log.append(f"{kind}: {value}")
        handler(value)

    def do_events(self, events: list[Mapping[str, Any]]) -> None:
        stamps = [instant(e["timestamp"]) for e in events if "timestamp" in e]
        if stamps:
            self.advance(max(stamps))
        body = [{k: text(v) if k == "timestamp" else v for k, v in e.items()} for e in events]
        self.call("POST", "/v1/events", body, expect=200)

    def do_expect_ingest(self, expected: Mapping[str, Any]) -> None:
        assert self.last is not None
        got = self.last.json()
        for key, value in expected.items():
            assert got.get(key) == value, (
                f"ingest {key}: expected {value}, got {got.get(key)}: {got}"
            )

    def do_billing_run(self, value: Mapping[str, Any]) -> None:
        as_of = instant(value["as_of"])
        self.advance(as_of)
        self.call("POST", "/v1/billing-runs", {"as_of": text(as_of)}, expect=200)

    def do_clock(self, value: Any) -> None:
        self.advance(instant(value))

    def do_tenant(self, value: Mapping[str, Any]) -> None:
        self.call("PATCH", "/v1/tenant", dict(value), expect=200)

    def do_catalog(self, value: Mapping[str, Any]) -> None:
        self.call("PUT", "/v1/catalog", dict(value), expect=200)

    def do_subscribe(self, value: Mapping[str, Any]) -> None:
        self.subscribe(value)

    def do_customer(self, value: Mapping[str, Any]) -> None:
        self.call("POST", "/v1/customers", {k: text(v) for k, v in value.items()})

    def do_change_plan(self, value: Mapping[str, Any]) -> None:
        self._subscription_call("change", value)

    def do_set_quantities(self, value: Mapping[str, Any]) -> None:
        self._subscription_call("quantities", value)

    def do_cancel(self, value: Mapping[str, Any]) -> None:
        if value.get("mode") == "immediately" and "at" in value:
            self.advance(instant(value["at"]))  # the final invoice is made at once
        self._subscription_call("cancel", value)

    def do_add_discount(self, value: Mapping[str, Any]) -> None:
        self._subscription_call("discounts", value)

    def _subscription_call(self, action: str, value: Mapping[str, Any]) -> None:
        body = {k: text(v) if k in ("at", "start") else v for k, v in value.items()}
        sid = self.subscriptions[body.pop("customer")]
        self.call("POST", f"/v1/subscriptions/{sid}/{action}", body)

    def do_expect_response(self, expected: Mapping[str, Any]) -> None:
        assert self.last is not None
        if "status" in expected:
            assert self.last.status_code == expected["status"], self.last.text
        if "code" in expected:
            assert self.last.json()["error"]["code"] == expected["code"], self.last.text

    def do_expect_subscription(self, expected: Mapping[str, Any]) -> None:
        sid = self.subscriptions[expected["customer"]]
        got = self.call("GET", f"/v1/subscriptions/{sid}", None, expect=200).json()
        for key, value in expected.items():
            if key != "customer":
                assert text(got[key]) == text(value), f"subscription {key}: {got[key]} != {value}"

    def do_expect_invoice(self, expected: Mapping[str, Any]) -> None:
        invoice = self.find_invoice(expected)
        assert invoice is not None, f"no invoice for {expected}; have {self.summary(expected)}"
        context = f"invoice {invoice['number'] or invoice['id']} {expected['customer']} {invoice['period_start']}"
        if "status" in expected:
            assert invoice["status"] == expected["status"], f"{context}: status {invoice['status']}"
        for key in ("total", "subtotal", "discount_total"):
            if key in expected:
                assert same_decimal(invoice[key], expected[key]), (
                    f"{context}: {key} {invoice[key]} != {expected[key]}; lines: {_lines(invoice)}"
                )
        for line in expected.get("lines", []):
            assert any(_line_matches(got, line) for got in invoice["lines"]), (
                f"{context}: no line like {line}; lines: {_lines(invoice)}"
            )
        if "line_count" in expected:
            assert len(invoice["lines"]) == expected["line_count"], _lines(invoice)

    def do_expect_no_invoice(self, expected: Mapping[str, Any]) -> None:
        assert self.find_invoice(expected) is None, f"unexpected invoice for {expected}"

    def do_expect_invoice_count(self, expected: Mapping[str, Any]) -> None:
        invoices = self.invoices(expected["customer"])
        assert len(invoices) == expected["count"], self.summary(expected)

    def do_expect_usage(self, expected: Mapping[str, Any]) -> None:
        got = self.call(
            "GET", f"/v1/customers/{expected['customer']}/usage", None, expect=200
        ).json()
        rows = [row for row in _dicts(got) if row.get("charge") == expected["charge"]]
        assert rows, f"no usage for charge {expected['charge']}: {got}"
        for key, value in expected.items():
            if key not in ("customer", "charge"):
                assert same_decimal(rows[0].get(key), value), f"usage {key}: {rows[0]} vs {value}"

    def do_call(self, value: Mapping[str, Any]) -> None:
        """Any API call: ``{method?, path, body?, status?, expect?}`` (any 2xx by default)."""
        method = str(value.get("method", "POST" if "body" in value else "GET")).upper()
        body = _json_ready(value.get("body")) if "body" in value else None
        response = self.call(method, self._path(value["path"]), body)
        if "status" in value:
            assert response.status_code == value["status"], (
                f"{method} {value['path']}: {response.text}"
            )
        else:
            assert 200 <= response.status_code < 300, f"{method} {value['path']}: {response.text}"
        if "expect" in value:
            _expect_paths(response.json(), value["expect"], f"{method} {value['path']}")

    def do_expect_get(self, value: Mapping[str, Any]) -> None:
        """``GET path`` (200) and check dotted paths of its JSON body."""
        got = self.call("GET", self._path(value["path"]), None, expect=200).json()
        _expect_paths(got, value.get("expect", {}), f"GET {value['path']}")

    def do_expect_lines(self, expected: Mapping[str, Any]) -> None:
        """The sum of the customer's lines of one type over all its non-void invoices."""
        lines = [
            line
            for invoice in self.invoices(expected["customer"])
            if invoice["status"] != "void"
            for line in invoice["lines"]
            if line["type"] == expected["type"]
        ]
        total = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
        assert same_decimal(total, expected["total"]), (
            f"{expected['type']} lines of {expected['customer']}: {total} != {expected['total']}; "
            f"{self.summary(expected)}"
        )

    def do_expect_billed_total(self, expected: Mapping[str, Any]) -> None:
        """The sum of the customer's non-void invoice totals."""
        invoices = [i for i in self.invoices(expected["customer"]) if i["status"] != "void"]
        total = sum((Decimal(i["total"]) for i in invoices), Decimal(0))
        assert same_decimal(total, expected["total"]), (
            f"billed total of {expected['customer']}: {total} != {expected['total']}; "
            f"{self.summary(expected)}"
        )

    def _path(self, path: str) -> str:
        """``{sub:customer}`` in a path is the customer's latest subscription id."""
        for customer, sid in self.subscriptions.items():
            path = path.replace(f"{{sub:{customer}}}", sid)
        return path

    # -- helpers ------------------------------------------------------------------------

    def advance(self, to: datetime) -> None:
        if to > self.clock.now():
            self.clock.set(to)

    def call(self, method: str, path: str, body: Any, expect: int | None = None) -> Response:
        response = self.client.request(method, path, json=body)
        self.last = response
        if expect is not None:
            assert response.status_code == expect, f"{method} {path} {body}: {response.text}"
        return response

    def invoices(self, customer: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = f"/v1/invoices?customer={customer}&limit=100"
            if cursor:
                query += f"&cursor={cursor}"
            page = self.call("GET", query, None, expect=200).json()
            found += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def find_invoice(self, expected: Mapping[str, Any]) -> dict[str, Any] | None:
        start = instant(expected["period_start"])
        kind = expected.get("kind", "period")
        matches = [
            inv
            for inv in self.invoices(expected["customer"])
            if instant(inv["period_start"]) == start
            and inv["kind"] == kind
            and (
                "period_end" not in expected
                or instant(inv["period_end"]) == instant(expected["period_end"])
            )
        ]
        assert len(matches) <= 1, f"two invoices for one period: {matches}"
        return matches[0] if matches else None

    def summary(self, expected: Mapping[str, Any]) -> list[str]:
        return [
            f"{i['kind']} {i['period_start']}..{i['period_end']} {i['status']} {i['total']}"
            for i in self.invoices(expected["customer"])
        ]


def _line_matches(got: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    for key, value in want.items():
        if key in ("amount", "quantity", "unit_amount", "used", "included", "rolled_over"):
            if not same_decimal(got.get(key), value):
                return False
        elif key in ("period_start", "period_end"):
            if got.get(key) is None or instant(got[key]) != instant(value):
                return False
        elif key == "description_contains":
            if str(value) not in str(got.get("description")):
                return False
        elif got.get(key) != value:
            return False
    return True


def _lines(invoice: Mapping[str, Any]) -> list[str]:
    return [
        f"{line['type']} {line['charge']} q={line['quantity']} {line['amount']} ({line['description']})"
        for line in invoice["lines"]
    ]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """Every dict nested in a JSON value (usage responses may wrap their rows)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for inner in value.values():
            found += _dicts(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _dicts(inner)
    return found


def _json_ready(value: Any) -> Any:
    """YAML values as JSON: instants as RFC 3339 strings, nested."""
    if isinstance(value, datetime):
        return text(value)
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def _expect_paths(got: Any, expected: Mapping[str, Any], context: str) -> None:
    for path, want in expected.items():
        actual = _dig(got, path)
        if isinstance(want, bool) or want is None:
            ok = actual == want
        elif isinstance(want, int | float | Decimal) or _is_decimal(want):
            ok = (
                actual is not None
                and not isinstance(actual, dict | list)
                and _is_decimal(actual)
                and same_decimal(actual, want)
            )
        else:
            ok = actual == want
        assert ok, f"{context}: {path} is {actual!r}, expected {want!r}; body: {got}"


def _is_decimal(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return True


def _dig(value: Any, path: str) -> Any:
    """``a.b[0].c`` and ``rows[field=value].x`` (the first element whose field equals value)."""
    import re

    for part in path.split("."):
        match = re.fullmatch(r"([^\[]*)((?:\[[^\]]*\])*)", part)
        assert match is not None, f"bad path {path!r}"
        name, selectors = match.group(1), match.group(2)
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        for selector in re.findall(r"\[([^\]]*)\]", selectors):
            if not isinstance(value, list):
                return None
            if "=" in selector:
                field_, wanted = selector.split("=", 1)
                value = next((v for v in value if str(v.get(field_)) == wanted), None)
            else:
                index = int(selector)
                value = value[index] if -len(value) <= index < len(value) else None
    return value
