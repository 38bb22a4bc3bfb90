"""Catalog storage and service on both stores: apply, diff, versions, idempotence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tallybook.bootstrap import Container
from tallybook.documents.catalog.document import CatalogInvalid, load_catalog_text
from tallybook.domain.catalog.model import Aggregation, UsageCharge
from tallybook.domain.errors import NotFound
from tallybook.services.catalog_diff import diff_documents

CATALOG: dict[str, Any] = {
    "meters": [
        {"key": "api_calls", "event_type": "api_call", "aggregation": "count"},
        {
            "key": "tokens",
            "event_type": "llm",
            "aggregation": "sum",
            "value": "usage.tokens",
            "filter": {"region": ["eu", "us"]},
            "group_by": ["model"],
        },
    ],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "200.00"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "included": 50000,
                    "model": "per_unit",
                    "unit_amount": "0.003",
                },
            ],
        }
    ],
}


def _with_price(price: str) -> dict[str, Any]:
    plan = {**CATALOG["plans"][0]}
    plan["charges"] = [
        CATALOG["plans"][0]["charges"][0],
        {**CATALOG["plans"][0]["charges"][1], "unit_amount": price},
    ]
    return {"plans": [plan]}


def test_apply_creates_then_is_idempotent(container: Container) -> None:
    first = container.catalog.apply("default", CATALOG)
    assert [(m.key, m.action) for m in first.meters] == [
        ("api_calls", "created"),
        ("tokens", "created"),
    ]
    assert [(p.key, p.action, p.version) for p in first.plans] == [("growth", "created", 1)]
    assert first.changed
    again = container.catalog.apply("default", CATALOG)
    assert not again.changed
    assert {r.action for r in (*again.meters, *again.plans)} == {"unchanged"}
    assert again.plans[0].version == 1


def test_changed_plan_publishes_a_new_version_and_keeps_the_old(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    diff = container.catalog.apply("default", _with_price("0.004"))
    change = diff.plans[0]
    assert (change.action, change.version, change.previous_version) == ("updated", 2, 1)
    assert [(c.path, c.old, c.new) for c in change.changes] == [
        ("charges[api].unit_amount", "0.003", "0.004")
    ]
    latest = container.catalog.get_plan("default", "growth")
    first = container.catalog.get_plan("default", "growth", version=1)
    assert latest.version == 2 and first.version == 1
    assert isinstance(latest.charges[1], UsageCharge)
    assert isinstance(first.charges[1], UsageCharge)
    assert latest.charges[1].price.unit_amount == Decimal("0.004")
    assert first.charges[1].price.unit_amount == Decimal("0.003")
    versions = container.catalog.plan_versions("default", "growth")
    assert [(v.version, v.latest) for v in versions] == [(1, False), (2, True)]
    # the same value written differently is not a change
    assert not container.catalog.apply("default", _with_price("0.0040")).changed


def test_dry_run_reports_without_writing(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    diff = container.catalog.apply("default", _with_price("0.01"), dry_run=True)
    assert diff.dry_run and diff.plans[0].version == 2
    assert container.catalog.get_plan("default", "growth").version == 1
    fresh = container.catalog.apply(
        "default",
        {"meters": [{"key": "x", "event_type": "x", "aggregation": "count"}]},
        dry_run=True,
    )
    assert fresh.meters[0].action == "created"
    with pytest.raises(NotFound):
        container.catalog.get_meter("default", "x")


def test_apply_is_additive_and_updates_meters_in_place(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    changed = {"key": "api_calls", "event_type": "api_request", "aggregation": "count"}
    diff = container.catalog.apply("default", {"meters": [changed]})
    assert diff.meters[0].action == "updated"
    assert [(c.path, c.old, c.new) for c in diff.meters[0].changes] == [
        ("event_type", "api_call", "api_request")
    ]
    assert [m.key for m in container.catalog.list_meters("default")] == ["api_calls", "tokens"]
    assert container.catalog.get_meter("default", "api_calls").event_type == "api_request"
    assert [p.key for p in container.catalog.list_plans("default")] == ["growth"]


def test_usage_charges_may_reference_stored_meters(container: Container) -> None:
    container.catalog.apply("default", {"meters": CATALOG["meters"]})
    diff = container.catalog.apply("default", {"plans": CATALOG["plans"]})
    assert diff.plans[0].action == "created"
    assert diff.meters == ()


def test_unknown_meter_references_are_reported_with_their_location(container: Container) -> None:
    with pytest.raises(CatalogInvalid) as caught:
        container.catalog.apply("default", {"plans": CATALOG["plans"]})
    assert [i.location for i in caught.value.issues] == ["plans[0].charges[1].meter"]
    domain = load_catalog_text("meters: []\nplans: []\n")
    assert not container.catalog.apply("default", domain).changed


def test_domain_catalogs_are_checked_against_stored_meters(container: Container) -> None:
    catalog = load_catalog_text(_yaml())
    container.catalog.apply("default", catalog)
    assert container.catalog.get_plan("default", "growth").version == 1
    plans_only = type(catalog)(plans=catalog.plans)
    assert not container.catalog.apply("default", plans_only).changed
    with pytest.raises(CatalogInvalid):  # another tenant has no api_calls meter
        container.catalog.apply("other", plans_only)


def test_tenants_do_not_share_catalogs(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    assert container.catalog.list_meters("other") == []
    with pytest.raises(NotFound) as caught:
        container.catalog.get_plan("other", "growth")
    assert caught.value.code == "plan_not_found"


def test_missing_resources_have_codes(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    for call, code in [
        (lambda: container.catalog.get_meter("default", "nope"), "meter_not_found"),
        (lambda: container.catalog.get_plan("default", "nope"), "plan_not_found"),
        (lambda: container.catalog.get_plan("default", "growth", 9), "plan_version_not_found"),
        (lambda: container.catalog.plan_versions("default", "nope"), "plan_not_found"),
    ]:
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.code == code


def test_stored_meters_read_back_as_domain_objects(container: Container) -> None:
    container.catalog.apply("default", CATALOG)
    tokens = container.catalog.get_meter("default", "tokens")
    assert tokens.aggregation is Aggregation.SUM
    assert tokens.value == "usage.tokens"
    assert dict(tokens.filter) == {"region": ("eu", "us")}
    assert tokens.group_by == ("model",)
    catalog = container.catalog.catalog("default")
    assert [m.key for m in catalog.meters] == ["api_calls", "tokens"]


def test_apply_text_reads_yaml_and_scenario_files(container: Container) -> None:
    diff = container.catalog.apply_text("default", _yaml())
    assert diff.plans[0].action == "created"
    scenario = "name: s\ncatalog:\n" + "".join(f"  {line}\n" for line in _yaml().splitlines())
    assert not container.catalog.apply_text("default", scenario).changed
    with pytest.raises(CatalogInvalid):
        container.catalog.apply_text("default", "- just a list")


def test_field_diff_matches_keyed_lists() -> None:
    old = {"charges": [{"key": "a", "amount": "1"}, {"key": "b", "amount": "2"}], "name": "x"}
    new = {"charges": [{"key": "b", "amount": "3"}, {"key": "c", "amount": "4"}], "name": "x"}
    got = [(c.path, c.old, c.new) for c in diff_documents(old, new)]
    assert got == [
        ("charges[a].key", "a", None),
        ("charges[a].amount", "1", None),
        ("charges[b].amount", "2", "3"),
        ("charges[c].key", None, "c"),
        ("charges[c].amount", None, "4"),
    ]


def _yaml() -> str:
    return """\
meters:
  - {key: api_calls, event_type: api_call, aggregation: count}
plans:
  - key: growth
    name: Growth
    currency: USD
    interval: month
    charges:
      - {key: api, type: usage, meter: api_calls, model: per_unit, unit_amount: "0.003"}
"""
