"""Archiving customers and plans (``POST /v1/customers/{id}/archive``,
``POST /v1/plans/{key}/archive``).

Rules (chosen to match Lago and Stripe, where an archived or deleted object stops taking
new business but what is already running is billed to the end):

- **Customer**: refused with ``409 customer_has_live_subscriptions`` while any subscription of
  the customer, or billed to it as a parent, is not cancelled (cancel it first, immediately or
  at period end). Cancelled subscriptions still produce their final invoices and late usage is
  still billed. An archived customer is hidden from ``GET /v1/customers`` unless
  ``include_archived=true``, stays readable by id, and takes no new subscription
  (``409 customer_archived``).
- **Plan**: no new subscription and no plan change to it (``409 plan_archived``); existing
  subscriptions keep billing on it. Hidden from ``GET /v1/plans`` unless
  ``include_archived=true``; applying a catalog that still holds it does not unarchive it.

Archiving is idempotent: archiving again returns the object with its first archive time.
"""

from __future__ import annotations

from datetime import datetime

from tallybook.domain.errors import Conflict, NotFound
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.customers import customer_not_found
from tallybook.services.ports import Clock, CustomerStore, PlanArchiveStore, SubscriptionStore


class ArchiveService:
    """Archive customers and plans, and answer whether a plan takes new subscriptions."""

    def __init__(
        self,
        customers: CustomerStore,
        subscriptions: SubscriptionStore,
        plans: PlanArchiveStore,
        clock: Clock,
    ):
        self._customers = customers
        self._subscriptions = subscriptions
        self._plans = plans
        self._clock = clock

    def archive_customer(self, tenant_id: str, customer_id: str) -> Customer:
        """The archived customer. Raises ``NotFound`` ``customer_not_found`` and ``Conflict``
        ``customer_has_live_subscriptions`` (details: the subscription ids)."""
        customer = self._customers.get(tenant_id, customer_id)
        if customer is None:
            raise customer_not_found(customer_id)
        if customer.archived_at is not None:
            return customer
        subs = {
            s.subscription.id: s for s in self._subscriptions.for_customer(tenant_id, customer_id)
        }
        subs.update(
            {s.subscription.id: s for s in self._subscriptions.of_account(tenant_id, customer_id)}
        )
        live = sorted(i for i, s in subs.items() if s.subscription.end is None)
        if live:
            raise Conflict(
                f"customer {customer_id!r} has {len(live)} subscription(s) not cancelled; "
                "cancel them first (immediately or at period end)",
                code="customer_has_live_subscriptions",
                details={"customer": customer_id, "subscriptions": live[:100]},
            )
        updated = self._customers.update(tenant_id, customer_id, {"archived_at": self._clock.now()})
        if updated is None:  # deleted meanwhile (customers are never deleted today)
            raise customer_not_found(customer_id)
        return updated

    def archive_plan(self, tenant_id: str, key: str) -> datetime:
        """Archive the plan; its archive time. Raises ``NotFound`` ``plan_not_found``."""
        archived = self._plans.archive(tenant_id, key, self._clock.now())
        if archived is None:
            raise NotFound(f"no plan {key!r}", code="plan_not_found", details={"plan": key})
        return archived

    def archived_plans(self, tenant_id: str) -> dict[str, datetime]:
        """Archived plan key -> archive time."""
        return self._plans.archived(tenant_id)

    def plan_archived_at(self, tenant_id: str, key: str) -> datetime | None:
        return self._plans.archived_at(tenant_id, key)

    def check_plan_open(self, tenant_id: str, key: str) -> None:
        """Raises ``Conflict`` ``plan_archived`` when the plan takes no new subscriptions."""
        if self._plans.archived_at(tenant_id, key) is not None:
            raise Conflict(
                f"plan {key!r} is archived: it takes no new subscriptions",
                code="plan_archived",
                details={"plan": key},
            )


def check_customer_open(customer: Customer) -> None:
    """Raises ``Conflict`` ``customer_archived`` for an archived customer."""
    if customer.archived_at is not None:
        raise Conflict(
            f"customer {customer.id!r} is archived: it takes no new subscriptions",
            code="customer_archived",
            details={"customer": customer.id},
        )
