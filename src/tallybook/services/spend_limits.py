"""Spend limits (CONTRACT.md Part 2): set, read and remove a customer's limit, evaluate it.

Rules live in ``domain.spend_limits``; the period total comes from its one home,
``PreviewService.period_total`` (the upcoming invoice before credits).

Evaluation (``status``) computes the period total now and, when it has reached the limit,
records the hit with its ``spend_limit.reached`` outbox message in one transaction; the
store's unique key (customer, period start, limit amount) makes a second record of the
same hit impossible, also when two servers evaluate at once. Evaluation runs when a limit
is set, when it is read, on every metered entitlement check of a customer with a hard
limit, after each ingest for the customers it touched (``check_quietly``, called by the
alert evaluator from the ingest marks), and on the scheduler's sweep (``sweep``) of every
customer with a limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.spend_limits import (
    SpendHit,
    SpendLimit,
    SpendMode,
    blocks,
    check_amount,
    reached,
    reached_message,
)
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.billing.previews import PeriodTotal
from tallybook.services.ports import Clock, SpendLimitStore
from tallybook.services.shared_reads import remembered

SWEEP_PAGE = 200

log = logging.getLogger("tallybook.spend_limits")


class Totals(Protocol):
    """``PreviewService``: the customer and its period total."""

    def customer(self, tenant_id: str, customer_id: str) -> Customer: ...

    def period_total(
        self, tenant_id: str, customer_id: str, now: datetime | None = None
    ) -> PeriodTotal | None: ...


@dataclass(frozen=True, slots=True)
class SpendStatus:
    """A customer's limit and where the current period stands against it."""

    customer: str
    limit: SpendLimit | None
    total: PeriodTotal | None

    @property
    def reached(self) -> bool:
        if self.limit is None or self.total is None:
            return False
        return reached(self.total.total, self.limit.amount)

    @property
    def blocks(self) -> bool:
        """A hard limit is reached: metered entitlements are refused."""
        return blocks(self.limit, None if self.total is None else self.total.total)


class SpendLimitService:
    def __init__(self, store: SpendLimitStore, totals: Totals, clock: Clock):
        self._store = store
        self._totals = totals
        self._clock = clock

    def set(self, tenant_id: str, customer_id: str, amount: Decimal, mode: str) -> SpendStatus:
        """Set (or replace) the limit, then evaluate it. ValidationError ``invalid_amount``,
        ``invalid_mode``; NotFound ``customer_not_found``."""
        customer = self._totals.customer(tenant_id, customer_id)
        try:
            chosen = SpendMode(mode)
        except ValueError:
            raise ValidationError(
                "mode must be 'soft' or 'hard'", code="invalid_mode", details={"mode": mode[:20]}
            ) from None
        limit = SpendLimit(
            check_amount(amount, customer.currency), chosen, customer.currency, self._clock.now()
        )
        self._store.put(tenant_id, customer.id, limit)
        return self.status(tenant_id, customer.id)

    def get(self, tenant_id: str, customer_id: str) -> SpendStatus:
        """The limit and the period total; NotFound ``spend_limit_not_found`` without one."""
        status = self.status(tenant_id, customer_id)
        if status.limit is None:
            raise NotFound(
                f"customer {customer_id!r} has no spend limit",
                code="spend_limit_not_found",
                details={"customer": customer_id},
            )
        return status

    def delete(self, tenant_id: str, customer_id: str) -> None:
        """Remove the limit; NotFound ``spend_limit_not_found`` when there is none."""
        customer = self._totals.customer(tenant_id, customer_id)
        if not self._store.delete(tenant_id, customer.id):
            raise NotFound(
                f"customer {customer_id!r} has no spend limit",
                code="spend_limit_not_found",
                details={"customer": customer_id},
            )

    def status(self, tenant_id: str, customer_id: str, now: datetime | None = None) -> SpendStatus:
        """Evaluate the customer's limit now, recording a first hit in the period."""
        return self._status(tenant_id, self._totals.customer(tenant_id, customer_id), now)

    def _status(self, tenant_id: str, customer: Customer, now: datetime | None) -> SpendStatus:
        limit = remembered(
            ("spend_limit", tenant_id, customer.id), lambda: self._store.get(tenant_id, customer.id)
        )
        if limit is None:
            return SpendStatus(customer.id, None, None)
        total = self._totals.period_total(tenant_id, customer.id, now or self._clock.now())
        status = SpendStatus(customer.id, limit, total)
        if status.reached and total is not None:
            hit = SpendHit(
                customer=customer.id,
                period_start=total.period_start,
                period_end=total.period_end,
                limit=limit.amount,
                mode=limit.mode,
                total=total.total,
                currency=total.currency,
                at=total.as_of,
            )
            self._store.record_hit(tenant_id, hit, reached_message(hit))
        return status

    def check_quietly(self, tenant_id: str, customer_id: str) -> None:
        """``status`` of the customer, then of its bill-to parent, for a hook after ingest
        committed: an unknown customer is skipped and a failure is logged, never raised (the
        scheduler's sweep retries it)."""
        try:
            customer = self._totals.customer(tenant_id, customer_id)
            self.status(tenant_id, customer.id)
            if customer.parent is not None:  # the bill-to account's total includes this usage
                self.status(tenant_id, customer.parent)
        except NotFound:
            return
        except Exception:
            log.exception("spend limit check failed", extra={"customer": customer_id})

    def blocks_metered(self, tenant_id: str, customer: Customer) -> bool:
        """True when a hard limit is reached (the entitlement checks ask this, with the
        customer they read already: no limit costs one read and no period total)."""
        return self._status(tenant_id, customer, None).blocks

    def hits(self, tenant_id: str, customer_id: str) -> list[SpendHit]:
        """The customer's most recent limits reached, newest first."""
        return self._store.hits(tenant_id, customer_id)

    def sweep(self) -> int:
        """Evaluate every customer with a limit (the scheduler's job); how many reached."""
        count, after = 0, None
        while True:
            page = self._store.limited_customers(after=after, limit=SWEEP_PAGE)
            for tenant_id, customer_id in page:
                try:
                    count += self.status(tenant_id, customer_id).reached
                except NotFound:
                    continue
            if len(page) < SWEEP_PAGE:
                return count
            after = page[-1]
