"""Cohort retention, lifetime value and forecasts over monthly MRR (pure).

Every ratio is returned as a percent rounded half-up to 2 places (``money.round_ratio``),
or None when its denominator is zero. Definitions (docs/analytics.md):

- ``nrr = sum(mrr_end) / sum(mrr_start)`` over the customers with MRR > 0 at the start;
- ``grr = sum(min(mrr_end, mrr_start)) / sum(mrr_start)``;
- ``logo_churn``: the share of those customers with no subscription left at the end;
- ``gross_revenue_churn = 100 - grr``, ``net_revenue_churn = 100 - nrr``;
- ``ltv = arpa x gross_margin / monthly logo churn``; ``cac = spend / new customers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tallybook.domain.errors import ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT, round_amount, round_ratio

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class CohortMember:
    start_mrr: Decimal
    end_mrr: Decimal
    subscribed_at_end: bool


@dataclass(frozen=True, slots=True)
class Retention:
    customers: int
    start_mrr: Decimal
    end_mrr: Decimal
    nrr: Decimal | None
    grr: Decimal | None
    logo_churn: Decimal | None
    gross_revenue_churn: Decimal | None
    net_revenue_churn: Decimal | None


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` in percent, 2 places; None when ``whole`` is zero."""
    if whole == 0:
        return None
    with localcontext(DECIMAL_CONTEXT):
        return round_ratio(part * HUNDRED / whole)


def retention(members: Sequence[CohortMember]) -> Retention:
    """NRR, GRR, logo and revenue churn of a cohort (members with start MRR > 0)."""
    start = sum((m.start_mrr for m in members), ZERO)
    end = sum((m.end_mrr for m in members), ZERO)
    kept = sum((min(m.end_mrr, m.start_mrr) for m in members), ZERO)
    lost = sum(1 for m in members if not m.subscribed_at_end)
    nrr, grr = percent(end, start), percent(kept, start)
    return Retention(
        customers=len(members),
        start_mrr=start,
        end_mrr=end,
        nrr=nrr,
        grr=grr,
        logo_churn=percent(Decimal(lost), Decimal(len(members))),
        gross_revenue_churn=None if grr is None else HUNDRED - grr,
        net_revenue_churn=None if nrr is None else HUNDRED - nrr,
    )


def check_margin(gross_margin: Decimal) -> Decimal:
    """``gross_margin`` itself when within (0, 1]; ``invalid_gross_margin`` otherwise."""
    if not ZERO < gross_margin <= 1:
        raise ValidationError(
            f"gross_margin must be a fraction in (0, 1], got {gross_margin}",
            code="invalid_gross_margin",
        )
    return gross_margin


@dataclass(frozen=True, slots=True)
class Ltv:
    arpa: Decimal | None
    logo_churn: Decimal | None
    ltv: Decimal | None
    cac: Decimal | None = None
    ltv_to_cac: Decimal | None = None


def ltv(
    mrr: Decimal,
    customers: int,
    churned: int,
    customers_before: int,
    gross_margin: Decimal,
    currency: str,
    *,
    spend: Decimal | None = None,
    new_customers: int = 0,
) -> Ltv:
    """LTV of a month: ARPA (MRR per paying customer) x gross margin / monthly logo churn
    (customers churned in the month over paying customers the month before).

    With ``spend``, CAC is spend per new customer and ``ltv_to_cac`` their ratio (2 places).
    """
    check_margin(gross_margin)
    with localcontext(DECIMAL_CONTEXT):
        arpa = round_amount(mrr / customers, currency) if customers else None
        churn = percent(Decimal(churned), Decimal(customers_before))
        value = None
        if arpa is not None and churn:
            value = round_amount(arpa * gross_margin * HUNDRED / churn, currency)
        cac = (
            round_amount(spend / new_customers, currency)
            if spend is not None and new_customers
            else None
        )
        ratio = round_ratio(value / cac) if value is not None and cac else None
    return Ltv(arpa, churn, value, cac, ratio)


def forecast(history: Sequence[Decimal], months: int, method: str, currency: str) -> list[Decimal]:
    """The next ``months`` values after ``history`` (oldest first, usually 3 months):
    ``mean`` repeats the mean, ``trend`` extends the least-squares line, floored at 0."""
    if not history:
        return [round_amount(ZERO, currency)] * months
    with localcontext(DECIMAL_CONTEXT):
        n = len(history)
        average = sum(history, ZERO) / n
        if method == "mean" or n == 1:
            return [round_amount(average, currency)] * months
        xs = [Decimal(i) for i in range(n)]
        x_mean = sum(xs, ZERO) / n
        slope = sum(
            ((x - x_mean) * (y - average) for x, y in zip(xs, history, strict=True)), ZERO
        ) / sum(((x - x_mean) ** 2 for x in xs), ZERO)
        return [
            round_amount(max(ZERO, average + slope * (Decimal(n - 1 + k) - x_mean)), currency)
            for k in range(1, months + 1)
        ]
