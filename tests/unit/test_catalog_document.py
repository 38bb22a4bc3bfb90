"""The catalog document: parsing, every validation error, conversion (catalog/document.py)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tallybook.documents.catalog.document import (
    CatalogDocument,
    CatalogInvalid,
    CatalogIssue,
    catalog_to_document,
    document_to_catalog,
    load_catalog_file,
    load_catalog_text,
    parse_catalog,
    validate_document,
)
from tallybook.domain.catalog.model import (
    Aggregation,
    FlatCharge,
    PackageRounding,
    PricingModel,
    Timing,
    UsageCharge,
)
from tallybook.domain.errors import ValidationError
from tallybook.domain.periods import Anchor, Interval

GROWTH_YAML = """
meters:
  - key: api_calls
    event_type: api_call
    aggregation: count
  - key: tokens
    event_type: llm_completion
    aggregation: sum
    value: usage.tokens
    filter: {region: [eu, us]}
    group_by: [model]
plans:
  - key: growth
    name: Growth
    currency: USD
    interval: month
    billing_anchor: subscription
    trial_days: 14
    minimum_spend: "500"
    charges:
      - {key: platform, type: flat, amount: "200.00", timing: in_advance}
      - {key: seats, type: flat, unit_amount: "10.00", quantity_key: seats}
      - key: api
        type: usage
        meter: api_calls
        included: 50000
        model: per_unit
        unit_amount: "0.003"
      - key: tokens
        type: usage
        meter: tokens
        model: graduated
        tiers:
          - {up_to: 1000000, unit_amount: "0.000002", flat_amount: "1.00"}
          - {up_to: null, unit_amount: "0.000001"}
        prices_by_dimension:
          gpt-4o: {model: per_unit, unit_amount: "0.00001"}
"""


def base() -> dict[str, Any]:
    """A small valid document to break one field at a time."""
    return {
        "meters": [{"key": "m", "event_type": "e", "aggregation": "sum", "value": "n"}],
        "plans": [
            {
                "key": "p",
                "name": "P",
                "currency": "USD",
                "interval": "month",
                "charges": [
                    {"key": "fee", "type": "flat", "amount": "10.00"},
                    {
                        "key": "use",
                        "type": "usage",
                        "meter": "m",
                        "model": "per_unit",
                        "unit_amount": "1",
                    },
                    {
                        "key": "tiered",
                        "type": "usage",
                        "meter": "m",
                        "model": "graduated",
                        "tiers": [
                            {"up_to": 5, "unit_amount": "7.00"},
                            {"up_to": 10, "unit_amount": "6.50"},
                            {"up_to": None, "unit_amount": "6.00"},
                        ],
                    },
                ],
            }
        ],
    }


def issues(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CatalogInvalid) as raised:
        parse_catalog(data)
    return [(i.location, i.message) for i in raised.value.issues]


def with_charge(**fields: Any) -> dict[str, Any]:
    """``base()`` with its usage charge ``use`` replaced by one with ``fields``."""
    data = base()
    data["plans"][0]["charges"][1] = {"key": "use", "type": "usage", "meter": "m", **fields}
    return data


USE = "plans[0].charges[1]"
TIERS = "plans[0].charges[2].tiers"


# -- the happy path ----------------------------------------------------------------------


def test_contract_example_parses_into_domain_objects() -> None:
    catalog = load_catalog_text(GROWTH_YAML)
    tokens_meter = catalog.meter("tokens")
    assert tokens_meter is not None
    assert tokens_meter.aggregation is Aggregation.SUM
    assert (tokens_meter.value, tokens_meter.group_by) == ("usage.tokens", ("model",))
    assert tokens_meter.filter == {"region": ("eu", "us")}
    plan = catalog.plan("growth")
    assert plan is not None
    assert (plan.currency, plan.interval, plan.billing_anchor) == (
        "USD",
        Interval.MONTH,
        Anchor.SUBSCRIPTION,
    )
    assert (plan.trial_days, plan.minimum_spend) == (14, D(500))
    platform, seats, api, tokens = plan.charges
    assert platform == FlatCharge("platform", amount=D("200.00"), timing=Timing.IN_ADVANCE)
    assert seats == FlatCharge("seats", unit_amount=D("10.00"), quantity_key="seats")
    assert isinstance(api, UsageCharge) and isinstance(tokens, UsageCharge)
    assert (api.included, api.price.model, api.price.unit_amount) == (
        D(50000),
        PricingModel.PER_UNIT,
        D("0.003"),
    )
    assert tokens.price.tiers[0].flat_amount == D("1.00")
    assert tokens.price.tiers[1].up_to is None
    assert tokens.dimension == "model"  # the meter's only group_by
    assert tokens.prices_by_dimension["gpt-4o"].unit_amount == D("0.00001")


def test_json_and_yaml_give_the_same_catalog() -> None:
    yaml_catalog = load_catalog_text(GROWTH_YAML)
    as_json = json.dumps(catalog_to_document(yaml_catalog))
    assert load_catalog_text(as_json, filename="c.json") == yaml_catalog


def test_defaults() -> None:
    data = base()
    del data["plans"][0]["name"]
    data["plans"][0]["charges"].append(
        {
            "key": "pkg",
            "type": "usage",
            "meter": "m",
            "model": "package",
            "package_size": 5,
            "package_amount": 10,
        }
    )
    plan = parse_catalog(data).plans[0]
    assert (plan.name, plan.billing_anchor, plan.trial_days, plan.minimum_spend) == (
        "p", Anchor.SUBSCRIPTION, 0, D(0)
    )  # fmt: skip
    fee, use, _, pkg = plan.charges
    assert isinstance(fee, FlatCharge) and fee.timing is Timing.IN_ADVANCE
    assert isinstance(use, UsageCharge) and use.included == 0
    assert isinstance(pkg, UsageCharge) and pkg.price.rounding is PackageRounding.UP


def test_numbers_never_go_through_binary_floats() -> None:
    big = "12345678901234567.25"  # a binary float would read 1.2345678901234568e16
    charge = (
        f"{{key: u, type: usage, meter: m, included: {big}, model: per_unit, unit_amount: 0.1}}"
    )
    yaml_text = (
        "meters: [{key: m, event_type: e, aggregation: count}]\n"
        f"plans: [{{key: p, currency: USD, interval: month, charges: [{charge}]}}]\n"
    )
    json_text = json.dumps(json_usage_document()).replace('"BIG"', big)
    for text in (yaml_text, json_text):
        (usage,) = load_catalog_text(text).plans[0].charges
        assert isinstance(usage, UsageCharge)
        assert usage.included == D(big)
        assert str(usage.price.unit_amount) == "0.1"


def json_usage_document() -> dict[str, Any]:
    data = with_charge(model="per_unit", unit_amount="0.1", included="BIG")
    data["plans"][0]["charges"] = [data["plans"][0]["charges"][1]]
    return data


def test_python_floats_are_read_through_their_text() -> None:
    data = base()
    data["plans"][0]["charges"][0]["amount"] = 0.1
    fee = parse_catalog(data).plans[0].charges[0]
    assert isinstance(fee, FlatCharge) and fee.amount == D("0.1")


def test_lowercase_currency_and_inf_up_to_are_accepted() -> None:
    data = base()
    data["plans"][0]["currency"] = "eur"
    data["plans"][0]["charges"][2]["tiers"][2]["up_to"] = "inf"
    plan = parse_catalog(data).plans[0]
    assert plan.currency == "EUR"
    tiered = plan.charges[2]
    assert isinstance(tiered, UsageCharge) and tiered.price.tiers[2].up_to is None


def test_round_trip_through_the_document_form() -> None:
    catalog = load_catalog_text(GROWTH_YAML)
    document = catalog_to_document(catalog)
    assert json.loads(json.dumps(document)) == document  # JSON-ready
    assert document["plans"][0]["charges"][2]["unit_amount"] == "0.003"
    assert document["plans"][0]["charges"][3]["tiers"][1]["up_to"] is None
    assert parse_catalog(document) == catalog


def test_document_form_lists_only_the_fields_a_model_uses() -> None:
    document = catalog_to_document(parse_catalog(base()))
    assert document["plans"][0]["charges"][1] == {
        "key": "use",
        "type": "usage",
        "meter": "m",
        "included": "0",
        "model": "per_unit",
        "unit_amount": "1",
    }
    assert document["meters"][0] == {
        "key": "m",
        "event_type": "e",
        "aggregation": "sum",
        "value": "n",
    }


def test_pydantic_model_is_reusable_by_the_api() -> None:
    document = CatalogDocument.model_validate(base())
    assert document_to_catalog(document) == parse_catalog(base())
    schema = CatalogDocument.model_json_schema()
    assert schema["additionalProperties"] is False
    dumped = document.model_dump(mode="json", exclude_none=True)
    assert dumped["plans"][0]["charges"][0]["amount"] == "10.00"


def test_document_to_catalog_applies_the_cross_field_rules() -> None:
    data = base()
    data["plans"][0]["charges"][1]["meter"] = "nope"
    document = CatalogDocument.model_validate(data)
    with pytest.raises(CatalogInvalid):
        document_to_catalog(document)
    with pytest.raises(CatalogInvalid):
        validate_document(data)


def test_an_empty_document_is_an_empty_catalog() -> None:
    assert parse_catalog({}).plans == ()
    assert load_catalog_text("meters: []\nplans: []\n").meters == ()


# -- the error itself --------------------------------------------------------------------


def test_catalog_invalid_is_a_validation_error_with_every_issue() -> None:
    data = base()
    data["plans"][0]["currency"] = "XYZ"
    data["meters"][0]["aggregation"] = "median"
    with pytest.raises(ValidationError) as raised:
        parse_catalog(data)
    error = raised.value
    assert isinstance(error, CatalogInvalid)
    assert error.code == "invalid_catalog"
    assert len(error.issues) == 2
    assert error.details["issues"][0] == {
        "location": error.issues[0].location,
        "message": error.issues[0].message,
    }
    assert "2 problems" in error.message
    assert str(CatalogIssue("a.b", "bad")) == "a.b: bad"


# -- tiers -------------------------------------------------------------------------------


def test_tiers_must_be_ascending() -> None:
    data = base()
    data["plans"][0]["charges"][2]["tiers"][1]["up_to"] = 5
    assert issues(data) == [(f"{TIERS}[1].up_to", "tiers must be ascending: 5 is not above 5")]


def test_tiers_must_be_ascending_message_names_both_bounds() -> None:
    data = with_charge(model="volume", tiers=[{"up_to": 10}, {"up_to": 10}, {"up_to": None}])
    assert issues(data) == [
        (f"{USE}.tiers[1].up_to", "tiers must be ascending: 10 is not above 10")
    ]


def test_no_tier_after_the_open_ended_one() -> None:
    data = base()
    data["plans"][0]["charges"][2]["tiers"].append({"up_to": 20, "unit_amount": 1})
    assert issues(data) == [
        (f"{TIERS}[3]", "a tier after the open-ended one (up_to: null) can never be reached")
    ]


def test_last_tier_must_be_open_ended() -> None:
    data = base()
    data["plans"][0]["charges"][2]["tiers"][2]["up_to"] = 50
    assert issues(data) == [
        (
            f"{TIERS}[2].up_to",
            "the last tier must be open-ended (up_to: null) so every unit has a price",
        )
    ]


def test_tiered_model_needs_tiers() -> None:
    assert issues(with_charge(model="volume", tiers=[])) == [
        (f"{USE}.tiers", "the volume model needs at least one tier")
    ]
    assert issues(with_charge(model="graduated")) == [
        (
            f"{USE}.tiers",
            "the graduated model needs tiers: a list of {up_to, unit_amount, flat_amount}",
        )
    ]


def test_tier_up_to_is_required_and_positive() -> None:
    assert issues(with_charge(model="volume", tiers=[{"unit_amount": 1}])) == [
        (f"{USE}.tiers[0].up_to", "required field is missing")
    ]
    assert issues(with_charge(model="volume", tiers=[{"up_to": 0}, {"up_to": None}])) == [
        (f"{USE}.tiers[0].up_to", "must be greater than 0, got 0")
    ]


# -- prices ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -5, "0"])
def test_package_size_must_be_positive(size: object) -> None:
    data = with_charge(model="package", package_size=size, package_amount="10")
    ((location, message),) = issues(data)
    assert location == f"{USE}.package_size"
    assert message.startswith("must be greater than 0")


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("unit_amount", "-0.01", f"{USE}.unit_amount"),
        ("flat", "-200", "plans[0].charges[0].amount"),
        ("tier", "-1", f"{TIERS}[0].unit_amount"),
        ("minimum", "-1", "plans[0].minimum_spend"),
    ],
)
def test_negative_prices_are_rejected(field: str, value: str, location: str) -> None:
    data = with_charge(model="per_unit", unit_amount=value if field == "unit_amount" else "1")
    if field == "flat":
        data["plans"][0]["charges"][0]["amount"] = value
    if field == "tier":
        data["plans"][0]["charges"][2]["tiers"][0]["unit_amount"] = value
    if field == "minimum":
        data["plans"][0]["minimum_spend"] = value
    assert issues(data) == [(location, f"must not be negative, got {value}")]


def test_unit_amounts_keep_at_most_twelve_decimals() -> None:
    assert parse_catalog(with_charge(model="per_unit", unit_amount="0.000000000001"))
    assert parse_catalog(with_charge(model="per_unit", unit_amount="0.1000000000000"))  # zeros
    assert issues(with_charge(model="per_unit", unit_amount="0.0000000000001")) == [
        (
            f"{USE}.unit_amount",
            "0.0000000000001 has more than 12 decimal places",
        )
    ]


def test_quantities_keep_at_most_twelve_decimals_and_eighteen_digits() -> None:
    assert issues(with_charge(model="per_unit", unit_amount="1", included="0.0000000000001")) == [
        (f"{USE}.included", "0.0000000000001 has more than 12 decimal places")
    ]
    assert issues(with_charge(model="per_unit", unit_amount="1e18")) == [
        (f"{USE}.unit_amount", "is too large: at most 18 digits before the decimal point")
    ]
    charge = parse_catalog(with_charge(model="per_unit", unit_amount="0E-999999")).plans[0]
    assert str(charge.charges[1].price.unit_amount) == "0"  # type: ignore[union-attr]


def test_amounts_finer_than_the_currency_are_rejected() -> None:
    data = base()
    data["plans"][0]["charges"][0]["amount"] = "9.995"
    data["plans"][0]["minimum_spend"] = "0.001"
    assert issues(data) == [
        ("plans[0].minimum_spend", "0.001 has more decimal places than USD allows (2)"),
        ("plans[0].charges[0].amount", "9.995 has more decimal places than USD allows (2)"),
    ]


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", True, [1]])
def test_money_must_be_a_decimal_number(value: object) -> None:
    ((location, message),) = issues(with_charge(model="per_unit", unit_amount=value))
    assert location == f"{USE}.unit_amount"
    assert message.startswith("must be a decimal number")


def test_percentage_needs_rate() -> None:
    assert issues(with_charge(model="percentage", fixed_amount="0.30")) == [
        (f"{USE}.rate", "the percentage model needs rate: the percent of each event's value")
    ]


def test_percentage_min_must_not_exceed_max() -> None:
    data = with_charge(model="percentage", rate="2.9", min_per_event="5", max_per_event="1")
    assert issues(data) == [(f"{USE}.max_per_event", "max_per_event 1 is below min_per_event 5")]


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"model": "per_unit"}, "unit_amount"),
        ({"model": "package", "package_amount": "1"}, "package_size"),
        ({"model": "package", "package_size": "1"}, "package_amount"),
    ],
)
def test_each_model_names_its_missing_field(fields: dict[str, Any], missing: str) -> None:
    ((location, message),) = issues(with_charge(**fields))
    assert location == f"{USE}.{missing}"
    assert message.startswith(f"the {fields['model']} model needs {missing}")


def test_fields_a_model_does_not_use_are_errors() -> None:
    data = with_charge(model="per_unit", unit_amount="1", package_size=5, rate="1")
    assert issues(data) == [
        (f"{USE}.package_size", "package_size is not used by the per_unit model"),
        (f"{USE}.rate", "rate is not used by the per_unit model"),
    ]


def test_model_must_be_known() -> None:
    ((location, message),) = issues(with_charge(model="tiered", unit_amount="1"))
    assert location == f"{USE}.model"
    assert message.startswith("must be 'per_unit', 'graduated'") and message.endswith(
        "got 'tiered'"
    )


# -- charges -----------------------------------------------------------------------------


def test_usage_charge_must_name_a_meter_of_the_document() -> None:
    assert issues(with_charge(meter="calls", model="per_unit", unit_amount="1")) == [
        (f"{USE}.meter", "unknown meter 'calls' (meters defined: 'm')")
    ]


def test_flat_charge_needs_an_amount_or_a_seat_price() -> None:
    data = base()
    data["plans"][0]["charges"][0] = {"key": "fee", "type": "flat"}
    assert issues(data) == [
        (
            "plans[0].charges[0]",
            "a flat charge needs amount, or unit_amount with quantity_key (per-seat)",
        )
    ]


@pytest.mark.parametrize(
    ("fields", "location", "start"),
    [
        (
            {"amount": "1", "unit_amount": "1", "quantity_key": "seats"},
            "amount",
            "give either amount",
        ),
        ({"unit_amount": "1"}, "quantity_key", "unit_amount needs quantity_key"),
        ({"quantity_key": "seats"}, "unit_amount", "quantity_key needs unit_amount"),
    ],
)
def test_flat_charge_amount_or_seats_not_a_mix(
    fields: dict[str, Any], location: str, start: str
) -> None:
    data = base()
    data["plans"][0]["charges"][0] = {"key": "fee", "type": "flat", **fields}
    ((where, message),) = issues(data)
    assert where == f"plans[0].charges[0].{location}"
    assert message.startswith(start)


def test_charge_type_must_be_flat_or_usage() -> None:
    data = base()
    data["plans"][0]["charges"][0]["type"] = "recurring"
    assert issues(data) == [
        (
            "plans[0].charges[0].type",
            "charge type must be 'flat', 'usage' or 'credit_grant', got 'recurring'",
        )
    ]
    del data["plans"][0]["charges"][0]["type"]
    assert issues(data) == [
        ("plans[0].charges[0].type", "charge type must be 'flat', 'usage' or 'credit_grant'")
    ]


def test_usage_charges_are_billed_in_arrears() -> None:
    data = with_charge(model="per_unit", unit_amount="1", timing="in_advance")
    assert issues(data) == [
        (f"{USE}.timing", "usage charges are billed in arrears (timing: in_arrears)")
    ]
    assert parse_catalog(with_charge(model="per_unit", unit_amount="1", timing="in_arrears"))


def test_included_must_not_be_negative() -> None:
    data = with_charge(model="per_unit", unit_amount="1", included=-1)
    assert issues(data) == [(f"{USE}.included", "must not be negative, got -1")]


# -- per-dimension prices ----------------------------------------------------------------


def test_prices_by_dimension_need_a_meter_dimension() -> None:
    data = with_charge(
        model="per_unit",
        unit_amount="1",
        prices_by_dimension={"x": {"model": "per_unit", "unit_amount": "2"}},
    )
    assert issues(data) == [
        (
            f"{USE}.prices_by_dimension",
            "meter 'm' has no group_by, so there is no dimension to price by",
        )
    ]


def test_dimension_must_be_a_group_by_of_the_meter() -> None:
    data = with_charge(model="per_unit", unit_amount="1", dimension="region")
    data["meters"][0]["group_by"] = ["model"]
    assert issues(data) == [
        (
            f"{USE}.dimension",
            "'region' is not a group_by property of meter 'm' (it groups by model)",
        )
    ]


def test_several_group_bys_need_an_explicit_dimension() -> None:
    override = {"gpt-4o": {"model": "per_unit", "unit_amount": "2"}}
    data = with_charge(model="per_unit", unit_amount="1", prices_by_dimension=override)
    data["meters"][0]["group_by"] = ["model", "region"]
    assert issues(data) == [
        (
            f"{USE}.dimension",
            "meter 'm' groups by model, region: say which one prices_by_dimension keys on",
        )
    ]
    data["plans"][0]["charges"][1]["dimension"] = "model"
    charge = parse_catalog(data).plans[0].charges[1]
    assert isinstance(charge, UsageCharge) and charge.dimension == "model"


def test_dimension_prices_are_checked_like_any_price() -> None:
    overrides = {
        "gpt-4o": {"model": "percentage"},
        "small": {"model": "per_unit", "unit_amount": "-1"},
    }
    data = with_charge(model="per_unit", unit_amount="1", prices_by_dimension=overrides)
    data["meters"][0]["group_by"] = ["model"]
    assert issues(data) == [
        (f"{USE}.prices_by_dimension.small.unit_amount", "must not be negative, got -1"),
    ]
    data["plans"][0]["charges"][1]["prices_by_dimension"]["small"]["unit_amount"] = "1"
    assert issues(data) == [
        (
            f'{USE}.prices_by_dimension["gpt-4o"].rate',
            "the percentage model needs rate: the percent of each event's value",
        ),
    ]


# -- meters, plans, keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    "aggregation", ["sum", "max", "min", "latest", "time_weighted_average", "unique_count"]
)
def test_value_meters_need_a_value(aggregation: str) -> None:
    data = base()
    data["meters"][0] = {"key": "m", "event_type": "e", "aggregation": aggregation}
    ((location, message),) = issues(data)
    assert location == "meters[0].value"
    assert message.startswith(f"a {aggregation} meter needs value")


def test_count_meters_need_no_value() -> None:
    data = base()
    data["meters"][0] = {"key": "m", "event_type": "e", "aggregation": "count"}
    assert parse_catalog(data).meters[0].value is None


@pytest.mark.parametrize(
    ("path", "location", "message"),
    [
        (("meters",), "meters[1].key", "duplicate meter key 'm' (first at meters[0])"),
        (("plans",), "plans[1].key", "duplicate plan key 'p' (first at plans[0])"),
        (
            ("plans", 0, "charges"),
            "plans[0].charges[3].key",
            "duplicate charge key 'fee' (first at plans[0].charges[0])",
        ),
    ],
)
def test_duplicate_keys(path: tuple[Any, ...], location: str, message: str) -> None:
    data = base()
    target: Any = data
    for part in path:
        target = target[part]
    target.append(copy.deepcopy(target[0]))
    assert issues(data) == [(location, message)]


def test_the_same_charge_key_in_two_plans_is_fine() -> None:
    data = base()
    data["plans"].append({**copy.deepcopy(data["plans"][0]), "key": "q"})
    assert len(parse_catalog(data).plans) == 2


def test_duplicate_group_by_is_an_error() -> None:
    data = base()
    data["meters"][0]["group_by"] = ["model", "model"]
    assert issues(data) == [("meters[0].group_by[1]", "duplicate group_by property 'model'")]


def test_unknown_currency() -> None:
    data = base()
    data["plans"][0]["currency"] = "DOLLARS"
    assert issues(data) == [
        ("plans[0].currency", "unknown currency 'DOLLARS': expected an ISO 4217 code such as USD")
    ]


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ((), "colour"),
        (("meters", 0), "meters[0].colour"),
        (("plans", 0, "charges", 2, "tiers", 0), f"{TIERS}[0].colour"),
    ],
)
def test_unknown_fields_are_errors(path: tuple[Any, ...], location: str) -> None:
    data = base()
    target: Any = data
    for part in path:
        target = target[part]
    target["colour"] = "blue"
    assert issues(data) == [(location, "unknown field (not part of the catalog document)")]


def test_unknown_field_on_a_charge_has_no_union_tag_in_its_location() -> None:
    data = base()
    data["plans"][0]["charges"][0]["timming"] = "in_arrears"
    assert issues(data) == [
        ("plans[0].charges[0].timming", "unknown field (not part of the catalog document)")
    ]


@pytest.mark.parametrize(
    ("field", "value"), [("interval", "fortnight"), ("billing_anchor", "monday")]
)
def test_plan_enums(field: str, value: str) -> None:
    data = base()
    data["plans"][0][field] = value
    ((location, message),) = issues(data)
    assert (location, message.endswith(f"got {value!r}")) == (f"plans[0].{field}", True)


@pytest.mark.parametrize("value", [-1, True, "14"])
def test_trial_days_is_a_non_negative_integer(value: object) -> None:
    data = base()
    data["plans"][0]["trial_days"] = value
    ((location, _),) = issues(data)
    assert location == "plans[0].trial_days"


@pytest.mark.parametrize("key", ["", "has space", "a/b", "-lead", "x" * 101])
def test_keys_are_url_safe(key: str) -> None:
    data = base()
    data["plans"][0]["key"] = key
    ((location, _),) = issues(data)
    assert location == "plans[0].key"


def test_required_fields_are_named() -> None:
    data = base()
    del data["plans"][0]["currency"]
    del data["meters"][0]["aggregation"]
    assert issues(data) == [
        ("meters[0].aggregation", "required field is missing"),
        ("plans[0].currency", "required field is missing"),
    ]


def test_a_meter_without_event_type_needs_sources() -> None:
    data = base()
    del data["meters"][0]["event_type"]
    ((location, message),) = issues(data)
    assert location == "meters[0].event_type"
    assert message.startswith("a meter needs event_type, or (for a weighted sum meter) sources")


def test_every_problem_is_reported_at_once() -> None:
    data = base()
    data["meters"][0]["value"] = None
    data["plans"][0]["charges"][1]["meter"] = "nope"
    data["plans"][0]["charges"][2]["tiers"][2]["up_to"] = 1
    assert [loc for loc, _ in issues(data)] == [
        "meters[0].value",
        f"{USE}.meter",
        f"{TIERS}[2].up_to",  # not above 10
        f"{TIERS}[2].up_to",  # and not open-ended
    ]


# -- text, files, scenario files ---------------------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_text("meters:\n  - key: [unclosed\n", filename="cat.yaml")
    (issue,) = raised.value.issues
    assert issue.location.startswith("cat.yaml:3:")


def test_json_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_text('{"meters": [,]}', filename="cat.json")
    assert raised.value.issues == [CatalogIssue("cat.json:1:13", "Expecting value")]


@pytest.mark.parametrize(
    "text",
    ["plans: []\nplans: []\n", '{"plans": [], "plans": []}'],
    ids=["yaml", "json"],
)
def test_a_repeated_key_is_an_error_not_a_silent_overwrite(text: str) -> None:
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_text(text)
    assert "duplicate key 'plans'" in raised.value.issues[0].message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", ""])
def test_a_document_must_be_a_mapping(text: str) -> None:
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_text(text, filename="x.yaml")
    assert raised.value.issues == [
        CatalogIssue("x.yaml", "a catalog document must be a mapping with meters and plans")
    ]


def test_load_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(GROWTH_YAML, encoding="utf-8")
    assert load_catalog_file(path) == load_catalog_text(GROWTH_YAML)
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_file(tmp_path / "missing.yaml")
    assert raised.value.issues[0].location.endswith("missing.yaml")


def test_scenario_file_catalog_section_is_validated_with_its_prefix() -> None:
    scenario: dict[str, Any] = {"name": "s", "catalog": base(), "customers": [], "steps": []}
    assert parse_catalog(scenario) == parse_catalog(base())
    scenario["catalog"]["plans"][0]["currency"] = "ZZZ"
    assert [loc for loc, _ in issues(scenario)] == ["catalog.plans[0].currency"]
    assert issues({"catalog": "nope"}) == [
        ("catalog", "a catalog document must be a mapping with meters and plans")
    ]


def test_a_catalog_key_next_to_plans_is_an_unknown_field() -> None:
    data = base()
    data["catalog"] = {}
    assert issues(data) == [("catalog", "unknown field (not part of the catalog document)")]
