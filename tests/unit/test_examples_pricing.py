"""The worked examples (shared/examples/*.yaml), pricing only, at the domain level.

Each example's catalog is loaded with the document loader; the usage its events add up
to is written here by hand (aggregation and periods are other modules' job) and the
rated lines must give the invoice totals the file expects. The full scenarios run
through the API elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml

from tallybook.documents.catalog.document import load_catalog_file
from tallybook.domain.billing.lines import Line
from tallybook.domain.catalog.model import Catalog, FlatCharge, Plan
from tallybook.domain.pricing.rating import invoice_totals, rate_flat, rate_usage

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"  # copies of ../shared/examples
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_the_worked_examples_are_in_the_repo() -> None:
    assert len(EXAMPLE_FILES) >= 6, f"no worked examples in {EXAMPLES}"


@dataclass(frozen=True)
class Case:
    file: str
    customer: str
    period_start: str
    plan: str
    used: dict[str, str]  # charge key -> units the period's events add up to
    lines: dict[str, str] = field(default_factory=dict)  # charge key -> expected line amount


CASES = [
    Case("tiers_graduated_vs_volume", "g25", "2026-03-01T00:00:00Z", "grad", {"usage": "25"}),
    Case("tiers_graduated_vs_volume", "v25", "2026-03-01T00:00:00Z", "vol", {"usage": "25"}),
    Case("tiers_graduated_vs_volume", "g6", "2026-03-01T00:00:00Z", "grad", {"usage": "6"}),
    Case("tiers_graduated_vs_volume", "v6", "2026-03-01T00:00:00Z", "vol", {"usage": "6"}),
    # max of 3, 7, 4 active users -> 7 -> 2 packages of 5
    Case("package_round_up", "t1", "2026-05-01T00:00:00Z", "team", {"users": "7"}),
    Case(
        "hybrid_base_plus_overage",
        "c1",
        "2026-01-01T00:00:00Z",
        "growth",
        {"api": "120000"},  # 40,000 + 50,000 + 30,000 calls
        {"platform": "200.00", "api": "210.00"},
    ),
    Case("duplicates_counted_once", "d1", "2026-02-01T00:00:00Z", "payg", {"jobs": "3"}),
    Case("late_event_adjusts_next_invoice", "s1", "2026-01-01T00:00:00Z", "storage", {"gb": "150"}),
    Case("period_edge_customer_timezone", "la", "2026-02-01T08:00:00Z", "metered", {"calls": "1"}),
    Case("period_edge_customer_timezone", "utc", "2026-03-01T00:00:00Z", "metered", {"calls": "1"}),
]


def scenario(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text("utf-8"))
    return data


def expected_invoice(name: str, customer: str, period_start: str) -> dict[str, Any]:
    for step in scenario(name)["steps"]:
        invoice = step.get("expect_invoice")
        if invoice and (invoice["customer"], invoice["period_start"]) == (customer, period_start):
            return dict(invoice)
    raise LookupError(f"{name}: no invoice for {customer} from {period_start}")


def rate_plan(plan: Plan, used: dict[str, str]) -> list[Line]:
    lines: list[Line] = []
    for charge in plan.charges:
        if isinstance(charge, FlatCharge):
            lines.append(rate_flat(charge, plan.currency))
        else:
            lines += rate_usage(charge, D(used.get(charge.key, "0")), plan.currency)
    return lines


def catalog(name: str) -> Catalog:
    return load_catalog_file(EXAMPLES / f"{name}.yaml")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_catalog_loads(path: Path) -> None:
    loaded = load_catalog_file(path)
    assert loaded.plans
    assert {c.meter for p in loaded.plans for c in p.usage_charges} <= {
        m.key for m in loaded.meters
    }


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}-{c.customer}" for c in CASES])
def test_example_invoice_total_from_pricing_alone(case: Case) -> None:
    plan = catalog(case.file).plan(case.plan)
    assert plan is not None
    lines = rate_plan(plan, case.used)
    invoice = expected_invoice(case.file, case.customer, case.period_start)
    assert invoice_totals(lines, plan.currency) == D(invoice["total"])
    amounts = {line.charge: line.amount for line in lines}
    for charge, amount in case.lines.items():
        assert amounts[charge] == D(amount)
    for expected in invoice.get("lines", []):
        if expected.get("type", "usage") != "adjustment" and "quantity" in expected:
            (rated,) = [line for line in lines if line.charge == expected["charge"]]
            assert rated.quantity == D(expected["quantity"])


def test_graduated_vs_volume_stripe_figures() -> None:
    loaded = catalog("tiers_graduated_vs_volume")
    totals = {}
    for plan_key, units in [("grad", 25), ("vol", 25), ("grad", 6), ("vol", 6)]:
        plan = loaded.plan(plan_key)
        assert plan is not None
        totals[plan_key, units] = invoice_totals(rate_plan(plan, {"usage": str(units)}), "USD")
    assert totals == {
        ("grad", 25): D("157.50"),
        ("vol", 25): D("150.00"),
        ("grad", 6): D("41.50"),
        ("vol", 6): D("39.00"),
    }


def test_hybrid_platform_plus_overage() -> None:
    plan = catalog("hybrid_base_plus_overage").plan("growth")
    assert plan is not None
    platform, api = rate_plan(plan, {"api": "120000"})
    assert (platform.type, platform.amount) == ("flat", D("200.00"))
    assert (api.quantity, api.used, api.included, api.amount) == (
        D(70000),
        D(120000),
        D(50000),
        D("210.00"),
    )
    assert invoice_totals([platform, api], "USD") == D("410.00")


def test_late_event_adjustment_prices_like_usage() -> None:
    """February: 10 GB of its own (1.00) plus the late 30 January GB (3.00) = 4.00.

    The adjustment is January re-rated with the late usage minus what was billed, so
    allowances and tiers apply to January's whole usage.
    """
    plan = catalog("late_event_adjusts_next_invoice").plan("storage")
    assert plan is not None
    (gb,) = plan.usage_charges
    (february,) = rate_usage(gb, D(10), "USD")
    (billed,) = rate_usage(gb, D(150), "USD")
    (rerated,) = rate_usage(gb, D(180), "USD")
    adjustment = rerated.amount - billed.amount
    invoice = expected_invoice("late_event_adjusts_next_invoice", "s1", "2026-02-01T00:00:00Z")
    assert february.amount + adjustment == D(invoice["total"])
    assert [february.amount, adjustment] == [D(line["amount"]) for line in invoice["lines"]]
