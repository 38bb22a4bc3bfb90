"""Credit notes: what a correction of a final invoice gives back (pure).

Rules decided here (docs/invoicing-for-finance.md states them for people):

- Only a ``finalized`` or ``paid`` invoice takes credit notes (a draft is still
  recomputed; a void one owes nothing): Conflict ``invalid_invoice_status``.
- A line's **creditable** amount is what was billed for it before tax: its amount, less
  its share of the discounts and what credits paid of it (the tax base,
  ``ledger.payable_after_discounts`` less ``Line.credited``); discount and credit lines
  are not creditable. Earlier credit notes of the invoice use it up.
- A request credits ``"all"`` (every line's remaining creditable amount) or listed lines
  ``{"line": index, "amount"}`` (amount > 0, at most two decimals of the currency, at
  most what remains): ValidationError ``invalid_line``, ``invalid_amount``,
  ``amount_exceeds_creditable``, ``nothing_to_credit``.
- **Tax** given back per line and rate is the line's tax in proportion to what has been
  credited so far, rounded once per cumulative step (``money.round_amount``), so
  crediting a line in several notes gives back exactly its tax in the end. Inclusive tax
  is inside the amount; exclusive tax is added to the note's total.
- ``refund``: ``credit_balance`` (the total becomes a grant in the customer's credits
  ledger) or ``external`` (refunded outside Tallybook; only recorded).
- Numbers are gapless per tenant, ``CN-000001``, taken in the transaction that stores
  the note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.billing.invoice import Invoice, InvoiceStatus
from tallybook.domain.billing.lines import Line, LineTax, LineType
from tallybook.domain.credits.ledger import payable_after_discounts
from tallybook.domain.errors import Conflict, ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT, format_decimal, minor_units, round_amount

ZERO = Decimal(0)
PREFIX = "CN-"
NUMBER_WIDTH = 6
MAX_REASON = 500
CREDITABLE_STATUSES = frozenset({InvoiceStatus.FINALIZED, InvoiceStatus.PAID})
NOT_CREDITABLE = frozenset({LineType.DISCOUNT, LineType.CREDIT})


class Refund(StrEnum):
    CREDIT_BALANCE = "credit_balance"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class NoteLine:
    """One credited invoice line: ``line`` is its index on the invoice; ``amount`` the
    credited amount before exclusive tax; ``tax_amount`` the tax given back, of which
    ``exclusive_tax`` is added to the note's total."""

    line: int
    charge: str
    description: str
    amount: Decimal
    tax_amount: Decimal
    exclusive_tax: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "charge": self.charge,
            "description": self.description,
            "amount": format_decimal(self.amount),
            "tax_amount": format_decimal(self.tax_amount),
            "exclusive_tax": format_decimal(self.exclusive_tax),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> NoteLine:
        return NoteLine(
            int(data["line"]),
            str(data["charge"]),
            str(data["description"]),
            Decimal(data["amount"]),
            Decimal(data["tax_amount"]),
            Decimal(data["exclusive_tax"]),
        )


@dataclass(frozen=True, slots=True)
class CreditNote:
    id: str
    number: int
    invoice: str
    customer: str
    currency: str
    reason: str
    refund: Refund
    lines: tuple[NoteLine, ...]
    created_at: datetime
    grant: str | None = None  # the credits-ledger grant of a credit_balance refund
    prefix: str | None = None  # the seller's credit_note_prefix when issued (None: CN-)

    @property
    def display_number(self) -> str:
        return format_note_number(self.number, self.prefix)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        return sum((line.tax_amount for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        """What is given back: the credited amounts plus the exclusive tax on them."""
        return self.subtotal + sum((line.exclusive_tax for line in self.lines), ZERO)


@dataclass(frozen=True, slots=True)
class NoteRequest:
    """``all`` or ((line index, amount), ...), the reason and the refund."""

    lines: Sequence[tuple[int, Decimal]] | None  # None: all
    reason: str
    refund: Refund


def format_note_number(number: int, prefix: str | None = None) -> str:
    """``CN-000042`` (or ``{prefix}000042``)."""
    return f"{prefix or PREFIX}{number:0{NUMBER_WIDTH}d}"


def refund_of(value: object) -> Refund:
    try:
        return Refund(str(value))
    except ValueError:
        raise ValidationError(
            'refund must be "credit_balance" or "external"', code="invalid_refund"
        ) from None


def creditable(invoice: Invoice) -> dict[int, Decimal]:
    """Each creditable line's index -> what was billed for it before tax."""
    bases = {
        id(line): base for line, base in payable_after_discounts(invoice.lines, invoice.currency)
    }
    return {
        index: bases.get(id(line), line.amount) - (line.credited or ZERO)
        for index, line in enumerate(invoice.lines)
        if line.type not in NOT_CREDITABLE
    }


def credited_so_far(notes: Sequence[CreditNote]) -> dict[int, Decimal]:
    """Line index -> the amount earlier credit notes credited."""
    done: dict[int, Decimal] = {}
    for note in notes:
        for line in note.lines:
            done[line.line] = done.get(line.line, ZERO) + line.amount
    return done


def note_lines(
    invoice: Invoice, request: NoteRequest, earlier: Sequence[CreditNote]
) -> tuple[NoteLine, ...]:
    """The lines of a new credit note on ``invoice`` (see the module rules)."""
    if invoice.status not in CREDITABLE_STATUSES:
        raise Conflict(
            f"cannot credit a {invoice.status.value} invoice (it must be finalized or paid)",
            code="invalid_invoice_status",
            details={"status": invoice.status.value},
        )
    bases = creditable(invoice)
    done = credited_so_far(earlier)
    remaining = {i: base - done.get(i, ZERO) for i, base in bases.items()}
    if request.lines is None:
        wanted = [(i, rest) for i, rest in sorted(remaining.items()) if rest > 0]
    else:
        wanted = _checked(invoice, request.lines, remaining)
    if not wanted:
        raise ValidationError("nothing left to credit on this invoice", code="nothing_to_credit")
    result = []
    for index, amount in wanted:
        line = invoice.lines[index]
        tax, exclusive = _tax_back(
            line, bases[index], done.get(index, ZERO), amount, invoice.currency
        )
        result.append(NoteLine(index, line.charge, line.description, amount, tax, exclusive))
    return tuple(result)


def _checked(
    invoice: Invoice, lines: Sequence[tuple[int, Decimal]], remaining: Mapping[int, Decimal]
) -> list[tuple[int, Decimal]]:
    places = minor_units(invoice.currency)
    seen: set[int] = set()
    wanted = []
    for index, amount in lines:
        if index not in remaining or index in seen:
            raise ValidationError(
                f"line {index} is not a creditable line of this invoice (or is listed twice)",
                code="invalid_line",
                details={"line": index, "creditable": sorted(remaining)},
            )
        seen.add(index)
        exponent = amount.as_tuple().exponent
        if amount <= 0 or (
            isinstance(exponent, int)
            and -exponent > places
            and amount != round_amount(amount, invoice.currency)
        ):
            raise ValidationError(
                f"amount must be positive with at most {places} decimal places",
                code="invalid_amount",
                details={"line": index},
            )
        if amount > remaining[index]:
            raise ValidationError(
                f"line {index}: {format_decimal(amount)} is more than the "
                f"{format_decimal(remaining[index])} left to credit",
                code="amount_exceeds_creditable",
                details={"line": index, "creditable": format_decimal(remaining[index])},
            )
        wanted.append((index, round_amount(amount, invoice.currency)))
    return wanted


def _tax_back(
    line: Line, base: Decimal, before: Decimal, amount: Decimal, currency: str
) -> tuple[Decimal, Decimal]:
    """(tax given back, of which exclusive) for crediting ``amount`` after ``before``."""
    total = exclusive = ZERO
    for tax, back in _tax_parts(line, base, before, amount, currency):
        total += back
        if not tax.inclusive:
            exclusive += back
    return total, exclusive


def _tax_parts(
    line: Line, base: Decimal, before: Decimal, amount: Decimal, currency: str
) -> list[tuple[LineTax, Decimal]]:
    """Each of the line's rates and the tax it gives back for crediting ``amount`` after
    ``before`` of ``base`` (the module's rule: proportional, rounded per cumulative step)."""
    if base == 0:
        return []
    parts = []
    for tax in line.taxes:
        upto = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(tax.amount, before + amount), base)
        until = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(tax.amount, before), base)
        parts.append((tax, round_amount(upto, currency) - round_amount(until, currency)))
    return parts


@dataclass(frozen=True, slots=True)
class NoteTax:
    """The tax one credit note gives back at one rate (for its document): the rate's
    ``name``, ``percentage`` and ``inclusive`` as the invoice copied them, ``credited``
    the note's amounts the rate applied to, ``amount`` the tax given back."""

    rate: str
    name: str
    percentage: Decimal
    inclusive: bool
    credited: Decimal
    amount: Decimal


def note_taxes(
    invoice: Invoice, note: CreditNote, earlier: Sequence[CreditNote]
) -> tuple[tuple[NoteTax, ...], dict[int, tuple[NoteTax, ...]]]:
    """The tax ``note`` gave back per rate (in the order rates first appear) and per note
    line (by invoice line index), recomputed with the rule that made it (``_tax_parts``)
    from the invoice and the notes issued before it (those of ``earlier`` with a lower number);
    the per-rate amounts of a line add up to its stored ``tax_amount``."""
    bases = creditable(invoice)
    done = credited_so_far([n for n in earlier if n.number < note.number])
    by_rate: dict[str, list[Any]] = {}
    by_line: dict[int, tuple[NoteTax, ...]] = {}
    for item in note.lines:
        if item.line >= len(invoice.lines):  # pragma: no cover - notes name invoice lines
            continue
        line = invoice.lines[item.line]
        parts = _tax_parts(
            line, bases.get(item.line, ZERO), done.get(item.line, ZERO), item.amount,
            invoice.currency,
        )  # fmt: skip
        rows = []
        for tax, back in parts:
            rows.append(
                NoteTax(tax.rate, tax.name, tax.percentage, tax.inclusive, item.amount, back)
            )
            row = by_rate.setdefault(tax.rate, [tax, ZERO, ZERO])
            row[1] += item.amount
            row[2] += back
        by_line[item.line] = tuple(rows)
    totals = tuple(
        NoteTax(tax.rate, tax.name, tax.percentage, tax.inclusive, credited, amount)
        for tax, credited, amount in by_rate.values()
    )
    return totals, by_line


def check_reason(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_REASON
        or not value.isprintable()
    ):
        raise ValidationError(
            f"reason must be 1-{MAX_REASON} printable characters", code="invalid_reason"
        )
    return value.strip()
