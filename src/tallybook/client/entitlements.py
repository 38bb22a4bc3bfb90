"""Entitlement checks for the SDK: the request to send and the answer's parsing (sans I/O).

``check(customer, feature, units=1)`` asks
``GET /v1/customers/{customer}/entitlements/{feature}?units=...`` once (no retries: it is a
live read your code is waiting on) and returns an :class:`Entitlement`; an error answer
raises ``ApiError`` (``feature_not_found``, ``customer_not_found``, ``invalid_units``...),
no answer ``NetworkError``. Decimals stay ``Decimal``; instants are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from tallybook.client.delivery import api_error
from tallybook.client.errors import ApiError

__all__ = ["Entitlement", "check_request", "parse_entitlement"]


@dataclass(frozen=True, slots=True)
class Entitlement:
    """The server's answer (CONTRACT.md Part 2). ``reason`` is None, ``"not_in_plan"``,
    ``"no_subscription"``, ``"limit_reached"`` or ``"spend_limit_reached"``; ``usage``,
    ``limit``, ``remaining``, ``overage`` are set for metered features, ``config`` for
    static ones. ``bool(entitlement)`` is ``has_access``."""

    feature: str
    has_access: bool
    reason: str | None
    as_of: datetime | None
    usage: Decimal | None = None
    limit: Decimal | None = None
    remaining: Decimal | None = None
    overage: Decimal | None = None
    config: dict[str, Any] | None = None
    reset_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.has_access


def check_request(
    customer: str, feature: str, units: int | str | Decimal
) -> tuple[str, dict[str, str]]:
    """The path and query of a check. Raises ``ValueError`` for an empty customer or
    feature, or ``units`` that is not a number (floats are refused: pass a Decimal)."""
    if not customer or not feature:
        raise ValueError("customer and feature must be non-empty strings")
    if isinstance(units, bool) or not isinstance(units, int | str | Decimal):
        raise ValueError("units must be an int, a Decimal or a decimal string")
    path = f"/v1/customers/{quote(customer, safe='')}/entitlements/{quote(feature, safe='')}"
    return path, {"units": str(units)}


def parse_entitlement(response: httpx.Response) -> Entitlement:
    """The answer as an :class:`Entitlement`; ``ApiError`` for an error answer or a body
    that is not an entitlement."""
    if not 200 <= response.status_code < 300:
        raise api_error(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("has_access"), bool):
        raise ApiError(response.status_code, "invalid_response", "not an entitlement answer")
    config = body.get("config")
    return Entitlement(
        feature=str(body.get("feature")),
        has_access=body["has_access"],
        reason=body.get("reason"),
        as_of=_instant(body.get("as_of")),
        usage=_decimal(body.get("usage")),
        limit=_decimal(body.get("limit")),
        remaining=_decimal(body.get("remaining")),
        overage=_decimal(body.get("overage")),
        config=config if isinstance(config, dict) else None,
        reset_at=_instant(body.get("reset_at")),
        raw=body,
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
