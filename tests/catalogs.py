"""Catalogs shared by test modules (one copy each): import, never mutate.

``GROWTH``: the governed-pricing tenant of the governance API, console and browser tests
(``growth``, calendar months, UTC: a $100.00 platform fee in arrears and $0.10 per API
call).
"""

from __future__ import annotations

from typing import Any

GROWTH: dict[str, Any] = {
    "meters": [{"key": "api_calls", "event_type": "api_call", "aggregation": "count"}],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "100.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "model": "per_unit",
                    "unit_amount": "0.10",
                },
            ],
        }
    ],
}
