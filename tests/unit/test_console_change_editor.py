"""The change editor's pure helpers: common edits written into a plan document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tallybook.console.change_editor import edited_document, next_month, tiers_of
from tallybook.domain.errors import ValidationError


def _plan() -> dict[str, Any]:
    return {
        "key": "growth",
        "charges": [
            {"key": "platform", "type": "flat", "amount": "100.00"},
            {"key": "api", "type": "usage", "model": "per_unit", "unit_amount": "0.10"},
        ],
    }


def test_a_price_edit_keeps_the_value_as_decimal_text() -> None:
    plan = edited_document(_plan(), "api", "unit_amount", " 0.120 ")
    assert plan["charges"][1]["unit_amount"] == "0.120"
    assert edited_document(_plan(), "platform", "amount", "1E+2")["charges"][0]["amount"] == "100"
    # not a number: kept as typed, for the catalog validation to locate
    assert edited_document(_plan(), "api", "included", "lots")["charges"][1]["included"] == "lots"


def test_tiers_are_read_one_per_line_with_inf_for_the_last() -> None:
    assert tiers_of("1000 0\n10000, 0.002\ninf 0.001 5") == [
        {"up_to": "1000", "unit_amount": "0"},
        {"up_to": "10000", "unit_amount": "0.002"},
        {"up_to": None, "unit_amount": "0.001", "flat_amount": "5"},
    ]
    assert tiers_of("100 1; INF 2") == [
        {"up_to": "100", "unit_amount": "1"},
        {"up_to": None, "unit_amount": "2"},
    ]
    plan = edited_document(_plan(), "api", "tiers", "100 1\ninf 2")
    api = plan["charges"][1]
    assert api["tiers"][1] == {"up_to": None, "unit_amount": "2"}
    assert api["model"] == "graduated" and "unit_amount" not in api


def test_an_unknown_charge_or_field_is_refused() -> None:
    with pytest.raises(ValidationError) as charge:
        edited_document(_plan(), "nope", "unit_amount", "1")
    assert charge.value.code == "charge_not_in_plan"
    with pytest.raises(ValidationError) as field:
        edited_document(_plan(), "api", "rate_limit", "1")
    assert field.value.code == "invalid_field"


def test_the_default_effective_at_is_the_next_month_start() -> None:
    assert next_month(datetime(2026, 3, 15, 9, tzinfo=UTC)) == "2026-04-01T00:00:00Z"
    assert next_month(datetime(2026, 12, 31, 23, tzinfo=UTC)) == "2027-01-01T00:00:00Z"
