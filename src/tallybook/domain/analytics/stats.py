"""Order statistics over decimals, exact (no float).

``percentile_cont`` follows PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY x)``:
sort the n values, take the (zero-based) position ``f x (n - 1)`` and interpolate
linearly between the values either side of it. Source: PostgreSQL documentation,
"Ordered-Set Aggregate Functions"; the same rule as numpy's default ``linear`` method.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from tallybook.domain.errors import ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT, normalize, round_ratio

ZERO = Decimal(0)
HUNDRED = Decimal(100)
STAT_PLACES = 6  # percentiles and means of usage are shown (and used) to 6 places


def percentile_cont(values: Sequence[Decimal], percentile: Decimal) -> Decimal | None:
    """The ``percentile`` (0-100) of ``values`` by linear interpolation; None when empty.

    ``ValidationError`` (``invalid_percentile``) outside 0-100.
    """
    check_percentile(percentile)
    if not values:
        return None
    ordered = sorted(values)
    with localcontext(DECIMAL_CONTEXT):
        position = percentile / HUNDRED * (len(ordered) - 1)
        lower = int(position)  # floor: position >= 0
        if lower >= len(ordered) - 1:
            return ordered[-1]
        weight = position - lower
        return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * weight


def mean(values: Sequence[Decimal]) -> Decimal | None:
    """The arithmetic mean (60 significant digits); None when empty."""
    if not values:
        return None
    with localcontext(DECIMAL_CONTEXT):
        return sum(values, ZERO) / len(values)


def check_percentile(percentile: Decimal) -> Decimal:
    """``percentile`` itself when it is within 0-100, else ``invalid_percentile``."""
    if not ZERO <= percentile <= HUNDRED:
        raise ValidationError(
            f"percentiles must be within 0-100, got {percentile}",
            code="invalid_percentile",
            details={"percentile": str(percentile)},
        )
    return percentile


def shown(value: Decimal | None) -> Decimal | None:
    """A statistic as shown (and used): ``STAT_PLACES`` decimal places at most, no
    trailing zeros; None stays None."""
    return None if value is None else normalize(round_ratio(value, STAT_PLACES))
