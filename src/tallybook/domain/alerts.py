"""Threshold alerts: the rules, the crossing rule and the default allowance alerts.

CONTRACT.md Part 2, "Alerts, spend limits, entitlements". An alert watches one value of a
customer within its current billing period:

==========================  ==================================================================
``allowance_percent``       a usage charge's use as a percent of its included allowance
                            (``used x 100 >= t x included``; never divided, so exact)
``usage_quantity``          a usage charge's use in units (``used >= t``)
``spend_amount``            the period total as the customer would see it
                            (``PreviewService.period_total``: rounded lines, fees in full as
                            planned, before credits; ``total >= t``)
``credit_balance_below``    the remaining credit balance (``balance < t``; only customers
                            with a live grant)
==========================  ==================================================================

**Crossing** (``crossed``): a threshold ``t`` fires when ``previous < t <= current`` within a
period. The store keeps, per (alert, customer, threshold, period start), at most one fired
row (a UNIQUE key): "previous" is therefore whatever was evaluated before in the period,
and a threshold fires the first time an evaluation finds the value at or past it, once.
Several thresholds crossed at once fire in ascending order (for ``credit_balance_below``:
descending balance, i.e. the higher threshold first), each with the next ``sequence``.

**Default alerts**: unless the tenant turns them off, every usage charge with an
allowance has ``allowance_percent`` alerts at 80 and 100 (id ``default:allowance:<charge>``;
client ids cannot contain ``:``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from tallybook.domain.errors import ValidationError

MAX_THRESHOLDS = 20
MAX_THRESHOLD_CHARS = 40
DEFAULT_PERCENTS = (Decimal(80), Decimal(100))
DEFAULT_PREFIX = "default:allowance:"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class AlertType(StrEnum):
    ALLOWANCE_PERCENT = "allowance_percent"
    USAGE_QUANTITY = "usage_quantity"
    SPEND_AMOUNT = "spend_amount"
    CREDIT_BALANCE_BELOW = "credit_balance_below"


CHARGE_TYPES = frozenset({AlertType.ALLOWANCE_PERCENT, AlertType.USAGE_QUANTITY})


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert rule: for one customer, the customers on one plan, or every customer
    (``customer`` and ``plan`` both None); ``thresholds`` ascending, distinct."""

    id: str
    type: AlertType
    thresholds: tuple[Decimal, ...]
    customer: str | None = None
    plan: str | None = None
    charge: str | None = None
    created_at: datetime | None = None

    @property
    def default(self) -> bool:
        return self.id.startswith(DEFAULT_PREFIX)

    def applies_to(self, customer: str, plans: Iterable[str]) -> bool:
        """True when the alert watches ``customer`` (whose current plans are ``plans``)."""
        if self.customer is not None and self.customer != customer:
            return False
        return self.plan is None or self.plan in set(plans)


@dataclass(frozen=True, slots=True)
class Fired:
    """One threshold of one alert crossed by one customer in one period."""

    alert: str
    customer: str
    type: AlertType
    charge: str | None
    threshold: Decimal
    value: Decimal
    limit: Decimal | None
    period_start: datetime
    period_end: datetime
    fired_at: datetime
    id: str = ""


def default_alerts(charges: Iterable[str]) -> list[Alert]:
    """The 80/100 % allowance alerts of usage charges with an allowance."""
    return [
        Alert(
            f"{DEFAULT_PREFIX}{charge}",
            AlertType.ALLOWANCE_PERCENT,
            DEFAULT_PERCENTS,
            charge=charge,
        )
        for charge in dict.fromkeys(charges)
    ]


def parse_thresholds(kind: AlertType, raw: Sequence[str]) -> tuple[Decimal, ...]:
    """Thresholds as given (decimal strings such as ``"80"`` or ``"1000.00"``), checked and
    sorted ascending. ``invalid_thresholds`` when empty, more than ``MAX_THRESHOLDS``,
    repeated, not a plain non-negative decimal, zero, or (percent alerts) above 100."""
    if not raw or len(raw) > MAX_THRESHOLDS:
        raise _invalid(f"give 1-{MAX_THRESHOLDS} thresholds", raw)
    values = []
    for text in raw:
        if not isinstance(text, str) or len(text) > MAX_THRESHOLD_CHARS or not _DECIMAL.match(text):
            raise _invalid(f"threshold {str(text)[:50]!r} is not a decimal string like '80'", raw)
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern lets only decimals through
            raise _invalid(f"threshold {text!r} is not a decimal", raw) from None
        if value <= 0:
            raise _invalid("thresholds must be greater than 0", raw)
        if kind is AlertType.ALLOWANCE_PERCENT and value > 100:
            raise _invalid("percent thresholds must be within 0-100", raw)
        values.append(value)
    if len({threshold_text(v) for v in values}) != len(values):
        raise _invalid("thresholds must be distinct", raw)
    return tuple(sorted(values))


def _invalid(message: str, raw: object) -> ValidationError:
    shown = list(raw)[:MAX_THRESHOLDS] if isinstance(raw, list | tuple) else None
    return ValidationError(message, code="invalid_thresholds", details={"thresholds": shown})


def threshold_text(value: Decimal) -> str:
    """The one text of a threshold (``80``, ``80.0`` and ``80.00`` are all ``80``): part of
    the fired alerts' unique key."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def reached(kind: AlertType, threshold: Decimal, value: Decimal, limit: Decimal | None) -> bool:
    """Whether ``value`` is at or past ``threshold`` (``limit``: the allowance of a percent
    alert; with no allowance a percent alert is never reached)."""
    if kind is AlertType.ALLOWANCE_PERCENT:
        return limit is not None and limit > 0 and value * 100 >= threshold * limit
    if kind is AlertType.CREDIT_BALANCE_BELOW:
        return value < threshold
    return value >= threshold


def crossed(
    alert: Alert,
    value: Decimal,
    limit: Decimal | None,
    already: Iterable[str] = (),
) -> list[Decimal]:
    """The thresholds that fire now: reached and not fired yet (``already``: the
    ``threshold_text`` of those fired this period), in firing order."""
    done = set(already)
    found = [
        t
        for t in alert.thresholds
        if threshold_text(t) not in done and reached(alert.type, t, value, limit)
    ]
    if alert.type is AlertType.CREDIT_BALANCE_BELOW:
        found.reverse()  # the balance falls: the higher threshold is crossed first
    return found


def check_alert_id(alert_id: str) -> str:
    """A client alert id: 1-255 of ``A-Z a-z 0-9 _ . -`` (``invalid_alert_id`` else)."""
    if not ID_PATTERN.match(alert_id):
        raise ValidationError(
            "alert ids are 1-255 characters of A-Z, a-z, 0-9, '_', '.', '-'",
            code="invalid_alert_id",
            details={"id": alert_id[:255]},
        )
    return alert_id
