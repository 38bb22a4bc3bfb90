"""Rollup cells (pure): the fast accumulator equals merging each event's cell, and the
texts the rollup trusts are exactly those both stores spell alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.catalog.model import Aggregation, Meter
from tallybook.domain.metering.rollups import (
    HOUR_MICROS,
    Accumulator,
    Cell,
    NeedsExactParse,
    RollupDef,
    rollup_def,
)

METERS = [
    Meter("s", "e", Aggregation.SUM, value="v"),
    Meter("g", "e", Aggregation.MAX, value="v", group_by=("r",)),
    Meter("c", "e", Aggregation.COUNT, filter={"r": ("eu", "5", "true")}),
]
VALUES = st.one_of(
    st.integers(-(10**20), 10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.sampled_from(["0.05", "-1e3", "x", True, None]),
)
DIMS = st.sampled_from(["eu", "us", 5, True, None, Decimal("1.5"), {"a": 1}, 2**70])


@given(st.lists(st.tuples(VALUES, DIMS, st.integers(0, 5 * HOUR_MICROS)), max_size=40))
def test_accumulator_equals_merged_cells(events: list[tuple[Any, Any, int]]) -> None:
    for meter in METERS:
        definition = rollup_def(meter)
        fast = Accumulator()
        slow: dict[tuple[Any, ...], Cell] = {}
        for value, dim, ts in events:
            props = {"v": value, "r": dim}
            fast.add(definition, "c1", ts, props)
            dims, cell = definition.cell_of(props)
            if cell.count or cell.raw:
                key = (definition.fingerprint, "c1", dims, ts - ts % HOUR_MICROS)
                slow[key] = slow[key].merge(cell) if key in slow else cell
        assert fast.cells() == slow


def test_dimension_texts_both_stores_agree_on() -> None:
    definition = rollup_def(METERS[1])
    for raw, text in (("eu", "eu"), (True, "true"), (None, None), (7, "7"), (-7, "-7")):
        dims, cell = definition.cell_of({"v": 1, "r": raw})
        assert dims == (text,) and cell.count == 1 and cell.raw == 0
    for unsure in (Decimal("1.5"), 2**70, {"a": 1}, [1]):
        dims, cell = definition.cell_of({"v": 1, "r": unsure})
        assert cell == Cell(raw=1)


def test_floats_ask_for_an_exact_parse_and_definitions_round_trip() -> None:
    definition = rollup_def(METERS[0])
    with pytest.raises(NeedsExactParse):
        Accumulator().add(definition, "c", 0, {"v": 0.1})
    same = RollupDef.from_dict(definition.fingerprint, definition.as_dict())
    assert same == definition
    assert (
        rollup_def(METERS[2]).fingerprint
        != rollup_def(Meter("c", "e", Aggregation.COUNT, filter={"r": ("eu",)})).fingerprint
    )
    assert Cell(count=2, sum=Decimal(3)).value(Aggregation.SUM) == Decimal(3)
    assert Cell(count=2).value(Aggregation.MAX) is None


def test_weighted_and_gauge_meters_are_not_rolled_up() -> None:
    from tallybook.domain.catalog.model import MeterSource
    from tallybook.domain.metering.rollups import rolled_up

    weighted = Meter(
        "w", None, Aggregation.SUM, sources=(MeterSource("a"), MeterSource("b", value="n"))
    )
    assert not rolled_up(weighted)
    with pytest.raises(ValueError):
        rollup_def(weighted)
    assert not rolled_up(Meter("u", "e", Aggregation.UNIQUE_COUNT, value="v"))
    assert all(rolled_up(m) for m in METERS)
