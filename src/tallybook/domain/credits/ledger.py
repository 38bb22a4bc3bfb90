"""The credits ledger: grants, the order they are drawn in, expiry, void and reversal (pure).

One money ledger per customer and currency (CONTRACT.md Part 2, "Credits"). A **grant**
adds money; every change after it is an append-only **entry** with a signed ``amount``
(``debit``, ``expiry`` and ``void`` are negative; ``grant``, ``reversal``, ``rollover``
and ``top_up`` positive) and the customer's ``balance_after``. A grant's *remaining* is
the sum of its entries; nothing is ever updated in place.

Rules decided here (docs/credits.md states them for customers):

- **Order** (``draw_order``): priority (lower first), then ``expires_at`` (soonest first,
  never-expiring last), then creation, then id; Stripe's priority 0-100 and Orb's
  soonest-expiry drawdown.
- **Application** (``apply_credits``): each eligible line, in invoice order, after its
  share of the period's discounts, is paid by the grants whose ``[effective_at,
  expires_at)`` overlaps the line's service period, in that order, never below zero and
  never making the invoice total negative. Each grant used gives one ``credit`` line
  (negative amount; its ``charge`` names the grant).
- **Expiry** (``due_expiries``): a grant whose ``expires_at`` has passed is closed once
  no open invoice overlaps its window and every subscription of the account is billed
  through ``expires_at``; its rest is an ``expiry`` entry at ``expires_at``. A later
  adjustment line overlapping the window finds nothing left (the grant stays closed).
- **Void** (``void_entry``): the rest goes to zero with one ``void`` entry.
- **Reversal** (``reversals``): voiding an invoice gives back exactly what its debits
  drew, less what was already given back (so voiding twice reverses once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.billing.discounts import DISCOUNTABLE
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import format_decimal, round_amount

ZERO = Decimal(0)
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 100, 50
USAGE_LINES = frozenset({LineType.USAGE, LineType.ADJUSTMENT})
ALL_LINES = USAGE_LINES | {LineType.FLAT, LineType.PRORATION, LineType.TRUE_UP}


class Category(StrEnum):
    PROMOTIONAL = "promotional"
    PAID = "paid"


class EntryType(StrEnum):
    GRANT = "grant"
    DEBIT = "debit"
    EXPIRY = "expiry"
    VOID = "void"
    REVERSAL = "reversal"
    ROLLOVER = "rollover"
    TOP_UP = "top_up"


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """Which lines a grant pays: ``usage`` (usage and late-usage adjustments, the default),
    ``all`` (also flat, seat, proration and true-up lines) or named ``charges``."""

    scope: str = "usage"  # usage | all | charges
    charges: tuple[str, ...] = ()

    def covers(self, line: Line) -> bool:
        if self.scope == "usage":
            return line.type in USAGE_LINES
        if self.scope == "all":
            return line.type in ALL_LINES
        return line.type in ALL_LINES and line.charge in self.charges

    def to_json(self) -> str | dict[str, list[str]]:
        return {"charges": list(self.charges)} if self.scope == "charges" else self.scope

    @staticmethod
    def from_json(value: Any) -> AppliesTo:
        """``"usage"``, ``"all"`` or ``{"charges": [...]}``; ValidationError ``invalid_applies_to``."""
        if value is None:
            return _SCOPES["usage"]
        if isinstance(value, str) and value in _SCOPES:
            return _SCOPES[value]  # shared: values are frozen
        if isinstance(value, Mapping) and set(value) == {"charges"}:
            charges = value["charges"]
            if (
                isinstance(charges, list)
                and 1 <= len(charges) <= 100
                and all(isinstance(c, str) and 1 <= len(c) <= 255 for c in charges)
            ):
                return AppliesTo("charges", tuple(dict.fromkeys(charges)))
        raise ValidationError(
            'applies_to must be "usage", "all" or {"charges": ["key", ...]} (1-100 keys)',
            code="invalid_applies_to",
        )


_SCOPES = {"usage": AppliesTo("usage"), "all": AppliesTo("all")}


@dataclass(frozen=True, slots=True)
class Grant:
    """Money granted to one customer in one currency, drawn in ``draw_order``.

    ``amount`` is positive and in the currency's minor unit; ``expires_at`` None never
    expires; ``source`` says what created it (``api``, ``top_up``, ``commitment``,
    ``plan``, ``rollover``); a plan credit (and its rollover) names its ``subscription``
    and ``charge``.
    """

    id: str
    customer: str
    currency: str
    amount: Decimal
    category: Category
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    applies_to: AppliesTo
    created_at: datetime
    purchase_price: Decimal | None = None
    description: str | None = None
    source: str = "api"
    subscription: str | None = None
    charge: str | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether ``[effective_at, expires_at)`` overlaps ``[start, end)``."""
        return self.effective_at < end and (self.expires_at is None or start < self.expires_at)

    def live_at(self, at: datetime) -> bool:
        return self.effective_at <= at and (self.expires_at is None or at < self.expires_at)

    def same_request(self, other: Grant) -> bool:
        """Whether a repeated create with ``other``'s body is the same request (idempotent)."""
        return all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name != "created_at"
        )


def draw_order(grant: Grant) -> tuple[int, bool, datetime, datetime, str]:
    """The contract's drawdown order: priority, soonest expiry (never last), creation, id."""
    expires = grant.expires_at or grant.effective_at
    return (grant.priority, grant.expires_at is None, expires, grant.created_at, grant.id)


def check_grant(grant: Grant) -> None:
    """Refuse a grant a customer could not have meant; ValidationError with a code.

    Codes: ``invalid_amount`` (not > 0, or finer than the currency's minor unit),
    ``invalid_priority`` (outside 0-100), ``invalid_expiry`` (``expires_at`` not after
    ``effective_at``), ``invalid_purchase_price`` (negative).
    """
    if grant.amount <= 0:
        raise ValidationError("amount must be greater than zero", code="invalid_amount")
    if round_amount(grant.amount, grant.currency) != grant.amount:
        raise ValidationError(
            f"amount has more decimals than {grant.currency} allows", code="invalid_amount"
        )
    if not MIN_PRIORITY <= grant.priority <= MAX_PRIORITY:
        raise ValidationError(
            f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}", code="invalid_priority"
        )
    if grant.expires_at is not None and grant.expires_at <= grant.effective_at:
        raise ValidationError("expires_at must be after effective_at", code="invalid_expiry")
    if grant.purchase_price is not None and (
        grant.purchase_price < 0
        or round_amount(grant.purchase_price, grant.currency) != grant.purchase_price
    ):
        raise ValidationError(
            f"purchase_price must be >= 0 in {grant.currency}'s minor unit",
            code="invalid_purchase_price",
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry. ``amount`` is signed (reductions negative); ``balance_after`` is
    the customer's balance in the currency after it; ``invoice`` and ``line`` (the line's
    index) are set on debits and reversals."""

    grant: str
    type: EntryType
    amount: Decimal
    at: datetime
    balance_after: Decimal = ZERO
    invoice: str | None = None
    line: int | None = None


def with_balances(entries: Iterable[Entry], balance: Decimal) -> list[Entry]:
    """``entries`` in order with ``balance_after`` running from ``balance``."""
    result = []
    for entry in entries:
        balance += entry.amount
        result.append(replace(entry, balance_after=balance))
    return result


def remaining(entries: Iterable[Entry]) -> dict[str, Decimal]:
    """Each grant's remaining amount: the sum of its entries."""
    left: dict[str, Decimal] = {}
    for entry in entries:
        left[entry.grant] = left.get(entry.grant, ZERO) + entry.amount
    return left


# -- application ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draw:
    """What one grant paid on one invoice (a ``credit`` line of ``-amount``)."""

    grant: str
    amount: Decimal


def apply_credits(
    lines: Sequence[Line],
    grants: Sequence[Grant],
    left: dict[str, Decimal],
    currency: str,
    period: tuple[datetime, datetime],
    paid: dict[int, Decimal] | None = None,
) -> list[Line]:
    """The ``credit`` lines paying ``lines``; draws from ``left`` (grant -> remaining), in place.

    ``period`` is the invoice's period, used for a line without its own. Grants of
    another currency, used up, or not overlapping a line's service period pay nothing.
    ``paid``, when given, receives what credits paid of each line (by ``id(line)``): the
    line's ``credited``, which taxes are computed after (``domain.finance.taxes``).
    """
    ordered = sorted(
        (g for g in grants if g.currency == currency and left.get(g.id, ZERO) > 0),
        key=draw_order,
    )
    if not ordered:
        return []
    budget = max(sum((line.amount for line in lines), ZERO), ZERO)
    drawn: dict[str, Decimal] = {}
    for line, payable in _payable(lines, currency):
        start = line.period_start or period[0]
        end = line.period_end or period[1]
        for grant in ordered:
            if payable <= 0 or budget <= 0:
                break
            if not grant.applies_to.covers(line) or not grant.overlaps(start, end):
                continue
            take = min(left[grant.id], payable, budget)
            if take <= 0:
                continue
            left[grant.id] -= take
            payable -= take
            budget -= take
            drawn[grant.id] = drawn.get(grant.id, ZERO) + take
            if paid is not None:
                paid[id(line)] = paid.get(id(line), ZERO) + take
    by_id = {g.id: g for g in ordered}
    return [
        _credit_line(by_id[grant_id], amount, period)
        for grant_id, amount in drawn.items()
        if amount > 0
    ]


def draws(lines: Iterable[Line]) -> list[Draw]:
    """The draws recorded by an invoice's ``credit`` lines (one per grant)."""
    return [Draw(line.charge, -line.amount) for line in lines if line.type is LineType.CREDIT]


def _credit_line(grant: Grant, amount: Decimal, period: tuple[datetime, datetime]) -> Line:
    name = grant.description or grant.id
    return Line(
        type=LineType.CREDIT,
        charge=grant.id,
        description=f"Credit {name} ({grant.category.value}): {format_decimal(amount)} applied",
        quantity=Decimal(1),
        unit_amount=-amount,
        amount=-amount,
        period_start=period[0],
        period_end=period[1],
    )


def payable_after_discounts(lines: Sequence[Line], currency: str) -> list[tuple[Line, Decimal]]:
    """Each non-credit, non-discount line with its amount less its share of the discounts
    (the base credits pay and taxes are computed on)."""
    return _payable(lines, currency)


def _payable(lines: Sequence[Line], currency: str) -> list[tuple[Line, Decimal]]:
    """Each non-credit line with what is left to pay after its share of the discounts.

    A discount line (one per subscription and period) is shared among that period's
    discountable lines of the subscription in proportion to their amounts; the share is
    rounded once per line (``money.round_amount``).
    """
    if not any(line.type is LineType.DISCOUNT for line in lines):  # nothing to share
        return [
            (line, round_amount(line.amount, currency))
            for line in lines
            if line.type is not LineType.CREDIT
        ]
    pools: dict[tuple[Any, ...], list[Line]] = {}
    for line in lines:
        if line.type in DISCOUNTABLE:
            pools.setdefault(_pool_key(line), []).append(line)
    share: dict[int, Decimal] = {}
    for line in lines:
        if line.type is not LineType.DISCOUNT:
            continue
        pool = pools.get(_pool_key(line), [])
        base = sum((item.amount for item in pool if item.amount > 0), ZERO)
        if base <= 0:
            continue
        for item in pool:
            if item.amount > 0:
                share[id(item)] = share.get(id(item), ZERO) + (-line.amount) * item.amount / base
    result = []
    for line in lines:
        if line.type in (LineType.DISCOUNT, LineType.CREDIT):
            continue
        payable = line.amount - share.get(id(line), ZERO)
        result.append((line, round_amount(payable, currency)))
    return result


def _pool_key(line: Line) -> tuple[Any, ...]:
    return (line.subscription, line.period_start, line.period_end)


# -- closing grants ---------------------------------------------------------------------------


def due_expiries(
    grants: Sequence[Grant],
    left: Mapping[str, Decimal],
    as_of: datetime,
    open_periods: Sequence[tuple[datetime, datetime]],
    billed_through: datetime | None,
) -> list[Entry]:
    """``expiry`` entries for grants that expired and can no longer pay anything.

    ``open_periods`` are the account's invoices still draft after this run;
    ``billed_through`` the earliest point all its subscriptions are final through (None:
    some subscription has no final invoice yet).
    """
    result = []
    expired = [g for g in grants if g.expires_at is not None and g.expires_at <= as_of]
    for grant in sorted(expired, key=draw_order):
        rest = left.get(grant.id, ZERO)
        expires = grant.expires_at
        if rest <= 0 or expires is None:
            continue
        if billed_through is None or billed_through < expires:
            continue
        if any(grant.overlaps(start, end) for start, end in open_periods):
            continue
        result.append(Entry(grant.id, EntryType.EXPIRY, -rest, expires))
    return result


def void_entry(grant: Grant, rest: Decimal, at: datetime) -> Entry | None:
    """The ``void`` entry taking ``grant``'s rest to zero (None when nothing is left)."""
    if rest <= 0:
        return None
    return Entry(grant.id, EntryType.VOID, -rest, at)


def reversals(invoice: str, entries: Iterable[Entry], at: datetime) -> list[Entry]:
    """``reversal`` entries giving back what ``invoice``'s debits drew, less earlier reversals."""
    owed: dict[str, Decimal] = {}
    for entry in entries:
        if entry.invoice != invoice:
            continue
        if entry.type in (EntryType.DEBIT, EntryType.REVERSAL):
            owed[entry.grant] = owed.get(entry.grant, ZERO) - entry.amount
    return [
        Entry(grant, EntryType.REVERSAL, amount, at, invoice=invoice)
        for grant, amount in sorted(owed.items())
        if amount > 0
    ]
