"""Overage port: customers over an allowance now, from the marks the alert evaluator
keeps (issue 14)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OverMark:
    """One usage charge of one customer past its allowance in the period holding now:
    the default 100 % allowance alert fired (``used``/``included`` as measured then)."""

    customer: str
    name: str | None
    charge: str
    used: Decimal
    included: Decimal
    fired_at: datetime


class OverageMarks(Protocol):
    """Reads of ``fired_alerts`` (``adapters/store/overage_marks.py``)."""

    def over_allowance(
        self, tenant_id: str, now: datetime, *, limit: int, after: str | None
    ) -> Sequence[OverMark]:
        """The marks of the first ``limit`` customers (by id, after ``after``) whose
        default 100 % allowance alert fired for a period holding ``now``, ordered by
        customer and charge (all of a customer's marks)."""
        ...
