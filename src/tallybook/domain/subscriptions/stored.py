"""A stored subscription: the value plus its bill-to account and billing progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tallybook.domain.subscriptions.model import Subscription


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    """A subscription with its bill-to account and billing progress."""

    subscription: Subscription
    account: str
    billed_through: datetime | None
    next_issue_at: datetime | None
    created_at: datetime
