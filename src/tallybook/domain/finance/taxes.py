"""Tax rates and the taxes of invoice lines (pure).

Rules decided here (docs/invoicing-for-finance.md states them for people):

- A **tax rate** has a ``percentage`` from 0 to 100 (up to 4 decimal places) and is
  ``inclusive`` (the tax is inside the line amounts, as UK consumer prices) or exclusive
  (added on top, as German B2B VAT). Rates are immutable once created: a line keeps a copy
  of the rate it was taxed at (``LineTax``), so a final invoice never changes.
- **Which rates** apply to a line: the rates its plan charge names, else the customer's
  (``BuyerDetails.tax_rates``); ``discount`` and ``credit`` lines are never taxed (their
  effect is in the other lines' bases).
- **Base**: credits and commitments apply *before* tax (CONTRACT.md Part 2, "Credits"):
  a line's taxable base is its amount, less its share of the period's discounts
  (``ledger.payable_after_discounts``), less what credits paid of it (``Line.credited``).
- **Amount**: per line and per rate, rounded once half-up to the currency's minor unit by
  ``money.round_amount`` (the one rounding rule): exclusive ``base x p / 100``; inclusive
  ``base x p / (100 + p)`` (the tax part of a gross amount). A line's ``tax_amount`` is the
  sum over its rates; the invoice's ``tax_total`` is the sum of its lines'.
- **Exempt** and **reverse-charge** customers are not taxed; the invoice carries a note
  (``exemption_note``).
- The invoice ``total`` adds the exclusive taxes only (``invoice.totals``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from tallybook.domain.billing.lines import Line, LineTax, LineType
from tallybook.domain.credits.ledger import payable_after_discounts
from tallybook.domain.errors import ValidationError
from tallybook.domain.finance.parties import TaxExempt, check_text
from tallybook.domain.money import DECIMAL_CONTEXT, format_decimal, normalize, round_amount

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_PERCENT_PLACES = 4
UNTAXED = frozenset({LineType.DISCOUNT, LineType.CREDIT})
NOTES = {
    TaxExempt.EXEMPT: "Tax exempt: no tax charged.",
    TaxExempt.REVERSE_CHARGE: (
        "Reverse charge: VAT to be accounted for by the recipient "
        "(Council Directive 2006/112/EC, art. 196)."
    ),
}


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tenant's tax rate (``POST /v1/tax-rates``)."""

    id: str
    name: str
    percentage: Decimal
    inclusive: bool = False
    country: str | None = None
    description: str | None = None
    created_at: datetime | None = None

    def same_request(self, other: TaxRate) -> bool:
        """Whether ``other`` is this rate asked for again (the creation time aside)."""
        return replace(self, created_at=None) == replace(other, created_at=None)


def check_rate(rate: TaxRate) -> TaxRate:
    """A checked rate (percentage normalized). ValidationError ``invalid_percentage``
    (outside 0-100 or more than 4 places), ``invalid_name``, ``invalid_country``."""
    percentage = rate.percentage
    exponent = percentage.as_tuple().exponent
    if not percentage.is_finite() or not ZERO <= percentage <= HUNDRED:
        raise ValidationError(
            "percentage must be from 0 to 100",
            code="invalid_percentage",
            details={"percentage": format_decimal(percentage) if percentage.is_finite() else None},
        )
    if (
        isinstance(exponent, int)
        and -exponent > MAX_PERCENT_PLACES
        and percentage != round(percentage, MAX_PERCENT_PLACES)
    ):
        raise ValidationError(
            f"percentage has more than {MAX_PERCENT_PLACES} decimal places",
            code="invalid_percentage",
        )
    name = check_text(rate.name, "name", code="invalid_name")
    if name is None:
        raise ValidationError("name is required", code="invalid_name")
    country = rate.country
    if country is not None:
        region = country.split("-", 1)
        if not (len(region[0]) == 2 and region[0].isascii() and region[0].isalpha()) or (
            len(country) > 6 or not country.isprintable()
        ):
            raise ValidationError(
                "country must be an ISO 3166 code such as DE or US-CA", code="invalid_country"
            )
        country = country.upper()
    return replace(rate, name=name, percentage=normalize(percentage), country=country)


def exemption_note(exempt: TaxExempt) -> str | None:
    """The note printed on an exempt or reverse-charge customer's invoices (else None)."""
    return NOTES.get(exempt)


def tax_amount(base: Decimal, rate: TaxRate, currency: str) -> Decimal:
    """The tax of one line at one rate, rounded once (``money.round_amount``)."""
    if rate.inclusive:
        divisor = HUNDRED + rate.percentage
        exact = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(base, rate.percentage), divisor)
    else:
        exact = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(base, rate.percentage), HUNDRED)
    return round_amount(exact, currency)


def taxed_lines(
    lines: Sequence[Line],
    rates_of: Callable[[Line], Sequence[TaxRate]],
    exempt: TaxExempt,
    currency: str,
) -> tuple[Line, ...]:
    """``lines`` with their taxes (``Line.taxes``): every taxable line gets one
    ``LineTax`` per rate ``rates_of`` gives it; exempt and reverse-charge customers get none.
    Discount and credit lines are returned as they are; so is a line that gets no tax and
    had none (the same object: no copy, and no discount sharing computed when no line of
    the invoice has a rate)."""
    if exempt is not TaxExempt.NONE:
        return tuple(replace(line, taxes=()) if line.taxes else line for line in lines)
    wanted = [() if line.type in UNTAXED else tuple(rates_of(line)) for line in lines]
    if not any(wanted):
        return tuple(
            replace(line, taxes=()) if line.taxes and line.type not in UNTAXED else line
            for line in lines
        )
    bases = {id(line): base for line, base in payable_after_discounts(lines, currency)}
    result = []
    for line, rates in zip(lines, wanted, strict=True):
        if line.type in UNTAXED or (not rates and not line.taxes):
            result.append(line)
            continue
        base = bases.get(id(line), line.amount) - (line.credited or ZERO)
        taxes = tuple(
            LineTax(
                rate.id,
                rate.name,
                rate.percentage,
                rate.inclusive,
                base,
                tax_amount(base, rate, currency),
            )
            for rate in rates
        )
        result.append(replace(line, taxes=taxes))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class RateSummary:
    """One rate's taxable base and tax over an invoice (sums of its lines')."""

    rate: str
    name: str
    percentage: Decimal
    inclusive: bool
    taxable: Decimal
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "name": self.name,
            "percentage": format_decimal(self.percentage),
            "inclusive": self.inclusive,
            "taxable_amount": format_decimal(self.taxable),
            "amount": format_decimal(self.amount),
        }


def rate_summary(lines: Iterable[Line]) -> list[RateSummary]:
    """Per rate (in first-seen order): the sums of the lines' bases and taxes."""
    found: dict[tuple[str, Decimal, bool], RateSummary] = {}
    for line in lines:
        for tax in line.taxes:
            key = (tax.rate, tax.percentage, tax.inclusive)
            seen = found.get(key)
            if seen is None:
                found[key] = RateSummary(
                    tax.rate, tax.name, tax.percentage, tax.inclusive, tax.taxable, tax.amount
                )
            else:
                found[key] = replace(
                    seen, taxable=seen.taxable + tax.taxable, amount=seen.amount + tax.amount
                )
    return list(found.values())


def rates_by_line(
    charge_rates: Mapping[tuple[str | None, str], Sequence[str]],
    customer_rates: Sequence[str],
    known: Mapping[str, TaxRate],
) -> Callable[[Line], list[TaxRate]]:
    """``rates_of`` for ``taxed_lines``: a line's plan charge rates ((subscription, charge)
    -> rate ids) win over the customer's; ids no longer known are skipped."""

    def rates_of(line: Line) -> list[TaxRate]:
        ids = charge_rates.get((line.subscription, line.charge)) or customer_rates
        return [known[rate] for rate in ids if rate in known]

    return rates_of
