"""JSON bodies: exact decimals, UTC instants, and any integer a client can send."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from tallybook.api.responses import dumps


def test_json_bodies_carry_integers_beyond_64_bits() -> None:
    """A client-sent number echoed in an error's details must never break the response
    (found by the fuzz test: ``GET /v1/keys?limit=-9223372036854775809`` was a 500)."""
    body = {
        "limit": -9223372036854775809,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "x": Decimal("1.50"),
    }
    assert json.loads(dumps(body)) == {
        "limit": -9223372036854775809,
        "at": "2026-01-01T00:00:00Z",
        "x": "1.50",
    }


def test_ordinary_bodies_are_unchanged() -> None:
    assert dumps({"a": Decimal("0.003"), "n": 5}) == b'{"a":"0.003","n":5}'
