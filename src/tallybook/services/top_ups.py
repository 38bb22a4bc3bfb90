"""Automatic top-up use cases: the rule's API, and the check that buys the credits.

The rule is ``domain.credits.top_up``'s. ``TopUpService.put`` stores a customer's rule
and checks it at once; ``check`` is run whenever ``available`` may have fallen: after a
billing run's chunk commits (finalization draws, expiries), after a grant is voided,
after an invoice is paid or voided (a paid top-up no longer blocks the next one), and by
the scheduler (``run_due``: usage alone lowers ``available`` between runs).

``check`` reads ``available`` as ``GET /v1/customers/{id}/credits`` does, then, on the
customer's locked ledger, buys ``target - available`` unless an earlier top-up's
``credit_purchase`` invoice is unpaid: the grant (a ``top_up`` entry) and its finalized,
numbered invoice are written in one transaction. The lock makes two checks at once buy
one top-up at most.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from tallybook.domain.credits.ledger import Entry, EntryType, Grant
from tallybook.domain.credits.purchase import purchase_invoice
from tallybook.domain.credits.top_up import (
    SOURCE,
    TopUpRule,
    check_rule,
    top_up_amount,
    top_up_grant,
)
from tallybook.domain.errors import NotFound
from tallybook.domain.ids import new_id
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.ports import Clock, CreditStore, TopUpStore

log = logging.getLogger("tallybook.credits")


class Customers(Protocol):
    def get(self, tenant_id: str, customer_id: str) -> Customer: ...


class Available(Protocol):
    """``services.credits.CreditService``: the live balance's ``available``."""

    def available(self, tenant_id: str, customer_id: str) -> Decimal: ...


class TopUpService:
    def __init__(
        self,
        store: TopUpStore,
        ledgers: CreditStore,
        credits: Available,
        customers: Customers,
        clock: Clock,
    ):
        self._store = store
        self._ledgers = ledgers
        self._credits = credits
        self._customers = customers
        self._clock = clock

    def put(
        self, tenant_id: str, customer_id: str, threshold: Decimal, target: Decimal
    ) -> tuple[TopUpRule, Grant | None]:
        """Create or replace the customer's rule, then check it; (rule, grant bought or None).

        Errors: NotFound ``customer_not_found``; ValidationError ``invalid_threshold``,
        ``invalid_target`` (``domain.credits.top_up.check_rule``)."""
        customer = self._customers.get(tenant_id, customer_id)
        now = self._clock.now()
        rule = TopUpRule(customer.id, customer.currency, threshold, target, now, now)
        check_rule(rule)
        stored = self._store.put(tenant_id, rule)
        return stored, self.check(tenant_id, customer.id)

    def get(self, tenant_id: str, customer_id: str) -> TopUpRule:
        """The customer's rule; NotFound ``customer_not_found`` or ``top_up_not_found``."""
        customer = self._customers.get(tenant_id, customer_id)
        rule = self._store.get(tenant_id, customer.id)
        if rule is None:
            raise _no_rule(customer.id)
        return rule

    def delete(self, tenant_id: str, customer_id: str) -> None:
        """Remove the rule (a top-up already bought stays); NotFound as ``get``."""
        customer = self._customers.get(tenant_id, customer_id)
        if not self._store.delete(tenant_id, customer.id):
            raise _no_rule(customer.id)

    def check(self, tenant_id: str, customer_id: str) -> Grant | None:
        """Buy a top-up if the rule says so and none is unpaid; the grant bought, or None."""
        rule = self._store.get(tenant_id, customer_id)
        if rule is None:
            return None
        amount = top_up_amount(rule, self._credits.available(tenant_id, customer_id))
        if amount is None:
            return None
        now = self._clock.now()
        with self._ledgers.ledger(tenant_id, customer_id) as uow:
            if not uow.lock() or uow.unpaid_purchases(SOURCE):
                return None
            grant = top_up_grant(rule, new_id("cg"), amount, now)
            uow.insert_grant(grant)
            uow.append(
                grant.currency, [Entry(grant.id, EntryType.TOP_UP, amount, grant.effective_at)], now
            )
            uow.insert_final_invoice(new_id("inv"), purchase_invoice(grant, now), now)
            uow.commit()
        log.info(
            "credit top-up",
            extra={"tenant": tenant_id, "customer": customer_id, "grant": grant.id},
        )
        return grant

    def check_quietly(self, tenant_id: str, customer: str) -> None:
        """``check`` for hooks that run after another change committed (a void, a
        payment): a failure is logged, never raised, and the scheduled pass retries it."""
        self._safe_check(tenant_id, customer)

    def check_accounts(self, tenant_id: str, accounts: Sequence[str]) -> None:
        """``check`` each of ``accounts`` that has a rule (after a billing chunk commits).

        A failure is logged and does not stop the others: what was billed stays billed."""
        for rule in self._store.of_customers(tenant_id, accounts):
            self._safe_check(tenant_id, rule.customer)

    def run_due(self) -> int:
        """The scheduled pass: check every rule; returns how many top-ups were bought."""
        bought = 0
        for tenant_id, customer in self._store.holders():
            bought += self._safe_check(tenant_id, customer)
        return bought

    def _safe_check(self, tenant_id: str, customer: str) -> int:
        try:
            return int(self.check(tenant_id, customer) is not None)
        except Exception as exc:  # one customer's failure never stops the others
            log.exception(
                "credit top-up failed",
                extra={"tenant": tenant_id, "customer": customer, "error": type(exc).__name__},
            )
            return 0


def _no_rule(customer: str) -> NotFound:
    return NotFound(
        f"customer {customer!r} has no credit top-up rule",
        code="top_up_not_found",
        details={"customer": customer},
    )
