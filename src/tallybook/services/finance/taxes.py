"""Tax rates (``/v1/tax-rates``) and the built-in tax calculator of billing runs.

``TaxRateService`` creates (idempotent by ``id``: the same body again returns the stored
rate, another body is ``409 conflict``), reads and lists the tenant's rates.
``RateTaxes`` implements ``ports.TaxCalculator`` with ``domain.finance.taxes``: a line's
plan charge rates win over the customer's, exempt and reverse-charge customers get a note
instead of tax. Rates are immutable, so it caches them per tenant (re-reading on an id it
has not seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.finance.taxes import (
    TaxRate,
    check_rate,
    exemption_note,
    rates_by_line,
    taxed_lines,
)
from tallybook.domain.ids import new_id
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import Clock, TaxRateStore

MAX_RATE_ID = 255


class TaxRateService:
    def __init__(self, store: TaxRateStore, clock: Clock):
        self._store = store
        self._clock = clock

    def create(
        self,
        tenant_id: str,
        *,
        name: str,
        percentage: Decimal,
        inclusive: bool = False,
        country: str | None = None,
        description: str | None = None,
        rate_id: str | None = None,
    ) -> tuple[TaxRate, bool]:
        """Store a rate; (rate, created). ValidationError ``domain.finance.taxes.check_rate``'s
        codes and ``invalid_id``; Conflict ``conflict`` for a known id with another body."""
        if rate_id is not None and (
            not 1 <= len(rate_id) <= MAX_RATE_ID or not rate_id.isprintable()
        ):
            raise ValidationError(
                f"id must be 1-{MAX_RATE_ID} printable characters", code="invalid_id"
            )
        rate = check_rate(
            TaxRate(
                rate_id or new_id("txr"),
                name,
                percentage,
                inclusive,
                country,
                description,
                self._clock.now(),
            )
        )
        stored = self._store.insert(tenant_id, rate)
        if stored is not None:
            return stored, True
        existing = self._store.get(tenant_id, rate.id)
        if existing is not None and existing.same_request(rate):
            return existing, False
        raise Conflict(
            f"tax rate {rate.id!r} exists with another body (rates cannot change: create a new one)",
            code="conflict",
            details={"tax_rate": rate.id},
        )

    def get(self, tenant_id: str, rate_id: str) -> TaxRate:
        found = self._store.get(tenant_id, rate_id)
        if found is None:
            raise NotFound(
                f"no tax rate {rate_id!r}",
                code="tax_rate_not_found",
                details={"tax_rate": rate_id[:255]},
            )
        return found

    def list(
        self, tenant_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[TaxRate]:
        """A page of rates by id. ValidationError ``invalid_limit`` / ``invalid_cursor``."""
        after = decode_cursor(cursor, (str,))
        rows = self._store.page(
            tenant_id,
            limit=check_limit(limit) + 1,
            after=None if after is None else str(after[0]),
        )
        return page_of(rows, limit, lambda rate: [rate.id])


class RateTaxes:
    """``ports.TaxCalculator`` with the tenant's own tax rates (read once per run)."""

    def __init__(self, store: TaxRateStore):
        self._store = store

    def for_run(self, tenant_id: str) -> TenantRates:
        return TenantRates(self._store.all(tenant_id))


class TenantRates:
    """``ports.DraftTaxes``: one run's taxes from the tenant's rates. A rate id no rate has
    (a plan charge naming a rate never created) is ValidationError ``unknown_tax_rate``:
    the account is not billed (logged) rather than billed without its tax."""

    def __init__(self, known: Mapping[str, TaxRate]):
        self._known = known

    def tax(
        self,
        customer: Customer,
        draft: InvoiceDraft,
        charge_rates: Mapping[tuple[str | None, str], Sequence[str]],
    ) -> InvoiceDraft:
        billing = customer.billing
        known = self._known
        if (
            not known
            and not billing.tax_rates
            and not charge_rates
            and not any(line.taxes for line in draft.lines)
        ):
            # a tenant without rates (no per-line work): nothing to tax, and a line that
            # carries no tax keeps none; only the exemption note can change
            note = exemption_note(billing.tax_exempt)
            return draft if note == draft.tax_note else replace(draft, tax_note=note)
        wanted = set(billing.tax_rates) | {r for ids in charge_rates.values() for r in ids}
        missing = sorted(wanted - known.keys())
        if missing:
            raise ValidationError(
                f"unknown tax rate {missing[0]!r}",
                code="unknown_tax_rate",
                details={"tax_rates": missing},
            )
        rates_of = rates_by_line(charge_rates, billing.tax_rates, known)
        lines = taxed_lines(draft.lines, rates_of, billing.tax_exempt, draft.currency)
        note = exemption_note(billing.tax_exempt)
        if lines == draft.lines and note == draft.tax_note:
            return draft
        return replace(draft, lines=lines, tax_note=note)
