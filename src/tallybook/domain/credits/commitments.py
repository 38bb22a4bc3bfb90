"""Commitments: prepaid and postpaid minimum spend over a term (pure).

CONTRACT.md Part 2, "Commitments"; Metronome's prepaid and postpaid commits.

- **prepaid**: one ``commitment`` line bills the amount on the subscription's first
  invoice of the term; the same amount becomes a ``paid`` grant of priority 0 valid over
  ``[term_start, term_end)`` (``prepaid_grant``), drawn before any other grant; usage
  beyond it is billed at the plan's rates.
- **postpaid**: usage is billed as usual; the invoice of the period ending at the term's
  end (or at the subscription's end, when it ends first) carries a ``true_up`` line of
  ``max(0, due - billed)`` (``true_up_amount``), where ``billed`` is the sum of the
  eligible lines (``applies_to``) of the subscription whose service period starts in the
  term, and ``due`` is the amount, or, when the subscription ends early, the amount
  times the elapsed share of the term (by time, to the microsecond, not by months),
  rounded once (``money.round_amount``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.credits.ledger import AppliesTo, Category, Grant
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import format_decimal, round_amount

ZERO = Decimal(0)
MICROSECOND = timedelta(microseconds=1)


class CommitmentKind(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


@dataclass(frozen=True, slots=True)
class Commitment:
    """One term of a subscription's commitment. ``account`` is the bill-to customer
    (whose ledger holds a prepaid commitment's grant)."""

    id: str
    subscription: str
    account: str
    currency: str
    kind: CommitmentKind
    amount: Decimal
    term_start: datetime
    term_end: datetime
    applies_to: AppliesTo
    rollover_fraction: Decimal
    renew: bool
    created_at: datetime

    @property
    def grant_id(self) -> str:
        """The id of a prepaid term's grant."""
        return f"{self.id}_prepaid"

    def in_term(self, line: Line) -> bool:
        """Whether ``line`` is this subscription's, eligible, and bills a period in the term."""
        start = line.period_start
        return (
            line.subscription == self.subscription
            and line.charge != self.id
            and self.applies_to.covers(line)
            and start is not None
            and self.term_start <= start < self.term_end
        )


def check_commitment(commitment: Commitment) -> None:
    """Codes: ``invalid_amount`` (not > 0 or finer than the minor unit), ``invalid_term``
    (``term_end`` not after ``term_start``), ``invalid_rollover_fraction`` (outside 0-1, or
    above 0 on a postpaid term or one that does not renew)."""
    amount, currency = commitment.amount, commitment.currency
    if amount <= 0 or round_amount(amount, currency) != amount:
        raise ValidationError(
            f"commitment amount must be > 0 in {currency}'s minor unit", code="invalid_amount"
        )
    if commitment.term_end <= commitment.term_start:
        raise ValidationError(
            "the commitment term must end after it starts",
            code="invalid_term",
            details={"term_start": commitment.term_start.isoformat()},
        )
    if not ZERO <= commitment.rollover_fraction <= 1:
        raise ValidationError(
            "rollover_fraction must be between 0 and 1", code="invalid_rollover_fraction"
        )
    if commitment.rollover_fraction > 0 and (
        commitment.kind is not CommitmentKind.PREPAID or not commitment.renew
    ):
        raise ValidationError(
            "rollover_fraction carries a prepaid term's unused part into its renewal: "
            'it needs kind "prepaid" and renew: true',
            code="invalid_rollover_fraction",
        )


def prepaid_grant(commitment: Commitment, now: datetime) -> Grant:
    """The paid, priority-0 grant a prepaid term buys (billed by its ``commitment`` line)."""
    return Grant(
        id=commitment.grant_id,
        customer=commitment.account,
        currency=commitment.currency,
        amount=commitment.amount,
        category=Category.PAID,
        priority=0,
        effective_at=commitment.term_start,
        expires_at=commitment.term_end,
        applies_to=commitment.applies_to,
        created_at=now,
        purchase_price=commitment.amount,
        description=f"prepaid commitment {commitment.id}",
        source="commitment",
    )


def commitment_line(commitment: Commitment) -> Line:
    """The ``commitment`` line billing a prepaid term (its service period is the term)."""
    return Line(
        type=LineType.COMMITMENT,
        charge=commitment.id,
        description=(
            f"Prepaid commitment {format_decimal(commitment.amount)} {commitment.currency}"
        ),
        quantity=Decimal(1),
        unit_amount=commitment.amount,
        amount=commitment.amount,
        period_start=commitment.term_start,
        period_end=commitment.term_end,
    )


def billed_in_term(commitment: Commitment, lines: Iterable[Line]) -> Decimal:
    """The eligible amounts billed in the term (the lines' amounts, before credits)."""
    return sum((line.amount for line in lines if commitment.in_term(line)), ZERO)


def due_at(commitment: Commitment, end: datetime) -> Decimal:
    """What the term commits to if it ends at ``end``: the amount, or its elapsed share
    (by time) when ``end`` is before the term's end, rounded once."""
    if end >= commitment.term_end:
        return commitment.amount
    span = (commitment.term_end - commitment.term_start) // MICROSECOND
    elapsed = max((end - commitment.term_start) // MICROSECOND, 0)
    share = Decimal(elapsed) / Decimal(span)
    return round_amount(commitment.amount * share, commitment.currency)


def true_up_amount(commitment: Commitment, billed: Decimal, end: datetime) -> Decimal:
    """``max(0, due_at(end) - billed)``."""
    return max(due_at(commitment, end) - billed, ZERO)


def true_up_line(commitment: Commitment, amount: Decimal, end: datetime) -> Line:
    """The postpaid term's ``true_up`` line (its service period is the term, to ``end``)."""
    return Line(
        type=LineType.TRUE_UP,
        charge=commitment.id,
        description=(
            f"Commitment true-up: {format_decimal(commitment.amount)} {commitment.currency} "
            "committed"
        ),
        quantity=Decimal(1),
        unit_amount=amount,
        amount=amount,
        period_start=commitment.term_start,
        period_end=min(end, commitment.term_end),
    )
