"""Weighted meters without a database: the per-event rule, the exact sum, the document."""

from __future__ import annotations

from decimal import Decimal

from tallybook.documents.catalog.document import catalog_to_document, parse_catalog
from tallybook.domain.catalog.model import Aggregation, Meter, MeterSource
from tallybook.domain.metering.meters import weighted_sum, weighted_value
from tallybook.services.ingest.validate import compile_meters

SOURCES = (
    MeterSource("llm", value="usage.tokens", multiplier=Decimal("0.001")),
    MeterSource("llm", multiplier=Decimal(2), filter={"model": ("big",)}),
    MeterSource("image", multiplier=Decimal(5)),
)


def test_an_event_adds_for_every_source_it_matches() -> None:
    big = {"usage": {"tokens": 1500}, "model": "big"}
    assert weighted_value(SOURCES, "llm", big) == Decimal("3.5")  # 1.5 + 2
    assert weighted_value(SOURCES, "llm", {"usage": {"tokens": "0.5"}}) == Decimal("0.0005")
    assert weighted_value(SOURCES, "image", {}) == Decimal(5)
    assert weighted_value(SOURCES, "other", big) == Decimal(0)


def test_an_invalid_value_adds_nothing_but_a_counting_source_still_counts() -> None:
    assert weighted_value(SOURCES, "llm", {"usage": {"tokens": "x"}, "model": "big"}) == 2


def test_the_weighted_sum_is_exact_and_drops_trailing_zeros() -> None:
    parts = [(Decimal("0.0001"), Decimal(5000)), (Decimal(4), Decimal(1))]
    assert str(weighted_sum(parts)) == "4.5"
    assert str(weighted_sum([(Decimal("0.5"), Decimal(4))])) == "2"
    tiny = [(Decimal("0.000000000001"), Decimal("123456789012345678901234567890"))]
    assert weighted_sum(tiny) == Decimal("123456789012345678.90123456789")
    assert weighted_sum([]) == 0


def test_the_document_round_trips() -> None:
    document = {
        "meters": [
            {
                "key": "ai_credits",
                "aggregation": "sum",
                "group_by": ["region"],
                "sources": [
                    {"event_type": "llm", "value": "usage.tokens", "multiplier": "0.001"},
                    {"event_type": "llm", "multiplier": 2, "filter": {"model": "big"}},
                    {"event_type": "image"},
                ],
            }
        ]
    }
    catalog = parse_catalog(document)
    meter = catalog.meters[0]
    assert meter == Meter(
        "ai_credits",
        None,
        Aggregation.SUM,
        group_by=("region",),
        sources=(
            MeterSource("llm", "usage.tokens", Decimal("0.001")),
            MeterSource("llm", None, Decimal(2), {"model": ("big",)}),
            MeterSource("image", None, Decimal(1)),
        ),
    )
    assert meter.event_types == ("llm", "image")
    again = catalog_to_document(catalog)
    assert again["meters"][0]["sources"][2] == {"event_type": "image", "multiplier": "1"}
    assert parse_catalog(again) == catalog


def test_ingest_requires_a_value_of_each_valued_source_on_its_own_type() -> None:
    meter = Meter("w", None, Aggregation.SUM, sources=SOURCES)
    rules = compile_meters([meter])
    assert sorted(rules) == ["llm"]
    (rule,) = rules["llm"]
    assert (rule.key, rule.path, rule.required, rule.numeric) == (
        "w",
        ("usage", "tokens"),
        True,
        True,
    )
