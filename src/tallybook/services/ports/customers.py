"""Customer and subscription repositories (a subscription's locked read-modify-write)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from tallybook.domain.subscriptions.model import Customer, Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription


class CustomerStore(Protocol):
    def insert(self, tenant_id: str, customer: Customer) -> None:
        """Conflict when the id is taken."""
        ...

    def get(self, tenant_id: str, customer_id: str) -> Customer | None: ...

    def get_many(self, tenant_id: str, ids: Iterable[str]) -> dict[str, Customer]: ...

    def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        parent: str | None = None,
        email: str | None = None,
        query: str | None = None,
        include_archived: bool = True,
    ) -> Sequence[Customer]: ...

    def update(self, tenant_id: str, customer_id: str, values: dict[str, Any]) -> Customer | None:
        """Set ``values`` (column: value); the customer after, None when absent."""
        ...


class SubscriptionUnitOfWork(Protocol):
    """A subscription read under its row lock, and its rewrite, in one transaction."""

    @property
    def current(self) -> StoredSubscription: ...

    def save(
        self,
        subscription: Subscription,
        next_issue_at: datetime | None,
        event_type: str = "subscription.changed",
    ) -> None:
        """Rewrite the row; the ``subscription.*`` outbox message goes in the same
        transaction."""
        ...


class SubscriptionStore(Protocol):
    def for_customer(self, tenant_id: str, customer: str) -> list[StoredSubscription]: ...

    def insert_exclusive(
        self,
        tenant_id: str,
        subscription: Subscription,
        account: str,
        next_issue_at: datetime | None,
        now: datetime,
    ) -> None:
        """Insert unless the customer has an overlapping subscription (Conflict)."""
        ...

    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]: ...

    def customer_view(
        self, tenant_id: str, customer_id: str
    ) -> tuple[Customer | None, list[StoredSubscription]]:
        """The customer (None: unknown) and every subscription billed to its account
        (``of_account(customer.account)``), read together."""
        ...

    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription | None: ...

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        limit: int = 100,
        starting_after: str | None = None,
    ) -> list[StoredSubscription]: ...

    def locked(
        self, tenant_id: str, subscription_id: str, now: datetime
    ) -> AbstractContextManager[SubscriptionUnitOfWork]:
        """Lock one subscription's row for a read-modify-write; NotFound when absent."""
        ...
