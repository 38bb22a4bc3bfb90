"""Significance tests for experiments, computed by scipy (a well-kept library, not our code).

Money stays Decimal everywhere else; these tests need floats, so the conversion happens
here, at the edge, and the p-values come back as Decimals rounded to 4 places.

- ``two_proportion_p``: the two-sided two-proportion z-test with a pooled proportion. It is
  computed as scipy's chi-square test of the 2x2 table without continuity correction,
  which is the same test (chi2 = z^2, same p-value).
- ``welch_p``: Welch's unequal-variances t-test, ``scipy.stats.ttest_ind(equal_var=False)``.

Both return None when the statistic is undefined (an empty row or column, fewer than two
values in an arm, no variance at all).

scipy is imported on first use, not with the module: every process (API server, worker,
CLI) wires this adapter, and importing ``scipy.stats`` costs ~60 MB of resident memory
and several seconds of start-up that only experiment reads need.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from types import ModuleType

from tallybook.domain.money import round_ratio

P_VALUE_PLACES = 4


@cache
def _stats() -> ModuleType:
    return importlib.import_module("scipy.stats")


def two_proportion_p(
    successes_a: int, total_a: int, successes_b: int, total_b: int
) -> Decimal | None:
    table = [[successes_a, total_a - successes_a], [successes_b, total_b - successes_b]]
    if any(sum(row) == 0 for row in table) or any(
        sum(col) == 0 for col in zip(*table, strict=True)
    ):
        return None
    result = _stats().chi2_contingency(table, correction=False)
    return _p(float(result.pvalue))


def welch_p(values_a: Sequence[Decimal], values_b: Sequence[Decimal]) -> Decimal | None:
    if len(values_a) < 2 or len(values_b) < 2:
        return None
    if len(set(values_a)) == 1 and len(set(values_b)) == 1:
        return None
    result = _stats().ttest_ind(
        [float(v) for v in values_a], [float(v) for v in values_b], equal_var=False
    )
    return _p(float(result.pvalue))


def _p(value: float) -> Decimal | None:
    if math.isnan(value):
        return None
    return round_ratio(Decimal(repr(value)), P_VALUE_PLACES)


class ScipyStatistics:
    """``ports.Statistics`` computed by scipy (``two_proportion_p``, ``welch_p`` above)."""

    def two_proportion_p(
        self, successes_a: int, total_a: int, successes_b: int, total_b: int
    ) -> Decimal | None:
        """See the module function ``two_proportion_p``."""
        return two_proportion_p(successes_a, total_a, successes_b, total_b)

    def welch_p(self, values_a: Sequence[Decimal], values_b: Sequence[Decimal]) -> Decimal | None:
        """See the module function ``welch_p``."""
        return welch_p(values_a, values_b)
