"""Subscriptions repository: a row per subscription, its schedule as a JSON document.

Changes are read-modify-write under the row's lock (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``), so two concurrent
changes never lose one another.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from tallybook.adapters.store.customers import get_customer
from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_billing import customers, subscriptions
from tallybook.domain.errors import Conflict, NotFound
from tallybook.domain.governance.overrides import override_from_json, override_to_json
from tallybook.domain.notifications import subscription_message
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    CancelMode,
    Customer,
    CycleChange,
    Discount,
    DiscountKind,
    FeeProration,
    Phase,
    PlanRef,
    QuantityChange,
    Subscription,
)
from tallybook.domain.subscriptions.stored import StoredSubscription


class SubscriptionStore:
    """``outbox`` (when given) records ``subscription.*`` messages in the transaction
    that writes the subscription."""

    def __init__(self, engine: Engine, outbox: OutboxWriter | None = None):
        self._engine = engine
        self._outbox = outbox

    def insert(
        self,
        tenant_id: str,
        subscription: Subscription,
        account: str,
        next_issue_at: datetime | None,
        now: datetime,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(subscriptions).values(
                    tenant_id=tenant_id,
                    account_id=account,
                    next_issue_at=next_issue_at,
                    billed_through=None,
                    created_at=now,
                    updated_at=now,
                    **_columns(subscription),
                )
            )

    def insert_exclusive(
        self,
        tenant_id: str,
        subscription: Subscription,
        account: str,
        next_issue_at: datetime | None,
        now: datetime,
    ) -> None:
        """Insert unless the customer has a subscription overlapping this one's time
        (checked under the customer row's lock, so two requests cannot both pass);
        reports ``subscription.created`` to the outbox in the same transaction."""
        with self._engine.begin() as conn:
            lock = select(customers.c.id).where(
                customers.c.tenant_id == tenant_id, customers.c.id == subscription.customer
            )
            conn.execute(lock.with_for_update())
            _check_no_overlap(conn, tenant_id, subscription)
            conn.execute(
                insert(subscriptions).values(
                    tenant_id=tenant_id,
                    account_id=account,
                    next_issue_at=next_issue_at,
                    billed_through=None,
                    created_at=now,
                    updated_at=now,
                    **_columns(subscription),
                )
            )
            if self._outbox is not None:
                message = subscription_message("subscription.created", subscription, account, now)
                self._outbox.add(conn, tenant_id, [message], now)

    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]:
        with self._engine.connect() as conn:
            return subscriptions_of_accounts(conn, tenant_id, [account])

    def customer_view(
        self, tenant_id: str, customer_id: str
    ) -> tuple[Customer | None, list[StoredSubscription]]:
        """The customer and every subscription billed to its account, in one read
        transaction (live usage and entitlement checks read both per request)."""
        with self._engine.connect() as conn:
            customer = get_customer(conn, tenant_id, customer_id)
            if customer is None:
                return None, []
            return customer, subscriptions_of_accounts(conn, tenant_id, [customer.account])

    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription | None:
        with self._engine.connect() as conn:
            row = conn.execute(_by_id(tenant_id, subscription_id)).first()
        return None if row is None else stored_from_row(row)

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        limit: int = 100,
        starting_after: str | None = None,
    ) -> list[StoredSubscription]:
        stmt = select(subscriptions).where(subscriptions.c.tenant_id == tenant_id)
        if customer is not None:
            stmt = stmt.where(subscriptions.c.customer_id == customer)
        if starting_after is not None:
            stmt = stmt.where(subscriptions.c.id > starting_after)
        stmt = stmt.order_by(subscriptions.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [stored_from_row(row) for row in conn.execute(stmt)]

    def for_customer(self, tenant_id: str, customer: str) -> list[StoredSubscription]:
        return self.page(tenant_id, customer=customer, limit=10_000)

    @contextmanager
    def locked(
        self, tenant_id: str, subscription_id: str, now: datetime
    ) -> Iterator[LockedSubscription]:
        """The subscription under its row lock, to rewrite in the same transaction (with
        its ``subscription.*`` outbox message, when an outbox is configured)."""
        with self._engine.begin() as conn:
            row = conn.execute(_by_id(tenant_id, subscription_id).with_for_update()).first()
            if row is None:
                raise _not_found(subscription_id)
            yield LockedSubscription(conn, tenant_id, stored_from_row(row), now, self._outbox)


class LockedSubscription:
    """One locked subscription (``ports.SubscriptionUnitOfWork``)."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: str,
        current: StoredSubscription,
        now: datetime,
        outbox: OutboxWriter | None = None,
    ):
        self._conn = conn
        self._tenant = tenant_id
        self.current = current
        self._now = now
        self._outbox = outbox

    def save(
        self,
        subscription: Subscription,
        next_issue_at: datetime | None,
        event_type: str = "subscription.changed",
    ) -> None:
        """Rewrite the locked row with the new schedule and next issue time; ``event_type``
        is reported to the outbox in the same transaction."""
        self._conn.execute(
            update(subscriptions)
            .where(
                subscriptions.c.tenant_id == self._tenant,
                subscriptions.c.id == self.current.subscription.id,
            )
            .values(updated_at=self._now, next_issue_at=next_issue_at, **_columns(subscription))
        )
        if self._outbox is not None:
            message = subscription_message(
                event_type, subscription, self.current.account, self._now
            )
            self._outbox.add(self._conn, self._tenant, [message], self._now)


def subscriptions_of_accounts(
    conn: Connection, tenant_id: str, accounts: Sequence[str]
) -> list[StoredSubscription]:
    stmt = (
        select(subscriptions)
        .where(subscriptions.c.tenant_id == tenant_id, subscriptions.c.account_id.in_(accounts))
        .order_by(subscriptions.c.account_id, subscriptions.c.id)
    )
    return [stored_from_row(row) for row in conn.execute(stmt)]


def set_progress(
    conn: Connection,
    tenant_id: str,
    progress: Iterable[tuple[str, datetime | None, datetime | None]],
) -> None:
    """Record (subscription, billed_through, next_issue_at) after a billing run."""
    rows = [
        {"sid": sid, "through": through, "next": next_issue}
        for sid, through, next_issue in progress
    ]
    if not rows:
        return
    stmt = (
        update(subscriptions)
        .where(subscriptions.c.tenant_id == tenant_id, subscriptions.c.id == bindparam("sid"))
        .values(billed_through=bindparam("through"), next_issue_at=bindparam("next"))
    )
    conn.execute(stmt, rows)


def _check_no_overlap(conn: Connection, tenant_id: str, subscription: Subscription) -> None:
    stmt = select(subscriptions.c.id, subscriptions.c.start_at, subscriptions.c.end_at).where(
        subscriptions.c.tenant_id == tenant_id,
        subscriptions.c.customer_id == subscription.customer,
    )
    for row in conn.execute(stmt):
        ends_before = row.end_at is not None and row.end_at <= subscription.start
        starts_after = subscription.end is not None and subscription.end <= row.start_at
        if not (ends_before or starts_after):
            raise Conflict(
                f"customer {subscription.customer!r} already has subscription {row.id} "
                "at that time; change its plan instead, or cancel it first",
                code="subscription_exists",
                details={"subscription": row.id},
            )


def _by_id(tenant_id: str, subscription_id: str) -> Any:
    return select(subscriptions).where(
        subscriptions.c.tenant_id == tenant_id, subscriptions.c.id == subscription_id
    )


def _not_found(subscription_id: str) -> NotFound:
    return NotFound(
        f"no subscription {subscription_id!r}",
        code="subscription_not_found",
        details={"subscription": subscription_id},
    )


# -- the row <-> value codec ------------------------------------------------------------


def _columns(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "customer_id": sub.customer,
        "plan_key": sub.plan.key,
        "plan_version": sub.plan.version,
        "currency": sub.currency,
        "start_at": sub.start,
        "end_at": sub.end,
        "schedule": schedule_document(sub),
    }


def stored_from_row(row: Any) -> StoredSubscription:
    return StoredSubscription(
        subscription=subscription_from_row(row),
        account=row.account_id,
        billed_through=row.billed_through,
        next_issue_at=row.next_issue_at,
        created_at=row.created_at,
    )


def schedule_document(sub: Subscription) -> dict[str, Any]:
    return {
        "timezone": sub.timezone,
        "interval": sub.interval.value,
        "anchor": sub.anchor.value,
        "trial_end": _instant(sub.trial_end),
        "cancel_mode": None if sub.cancel_mode is None else sub.cancel_mode.value,
        "canceled_at": _instant(sub.canceled_at),
        "cycles": [
            {"at": _instant(c.at), "interval": c.interval.value, "anchor": c.anchor.value}
            for c in sub.cycles
        ],
        "phases": [
            {
                "plan": p.plan.key,
                "version": p.plan.version,
                "start": _instant(p.start),
                "allowance_policy": p.allowance_policy.value,
                "fee_proration": p.fee_proration.value,
            }
            for p in sub.phases
        ],
        "quantities": [
            {
                "at": _instant(q.at),
                "quantities": {k: f"{v:f}" for k, v in q.quantities.items()},
                "fee_proration": q.fee_proration.value,
            }
            for q in sub.quantities
        ],
        "discounts": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "value": f"{d.value:f}",
                "start": _instant(d.start),
                "periods": d.periods,
                "description": d.description,
            }
            for d in sub.discounts
        ],
        "overrides": [override_to_json(o) for o in sub.overrides],
    }


def subscription_from_row(row: Any) -> Subscription:
    doc = row.schedule
    return Subscription(
        id=row.id,
        customer=row.customer_id,
        currency=row.currency,
        start=row.start_at,
        timezone=doc["timezone"],
        interval=Interval(doc["interval"]),
        anchor=Anchor(doc["anchor"]),
        phases=tuple(
            Phase(
                PlanRef(p["plan"], int(p["version"])),
                _parse(p["start"]),
                AllowancePolicy(p["allowance_policy"]),
                FeeProration(p["fee_proration"]),
            )
            for p in doc["phases"]
        ),
        quantities=tuple(
            QuantityChange(
                _parse(q["at"]),
                {k: Decimal(v) for k, v in q["quantities"].items()},
                FeeProration(q["fee_proration"]),
            )
            for q in doc["quantities"]
        ),
        discounts=tuple(
            Discount(
                id=d["id"],
                kind=DiscountKind(d["kind"]),
                value=Decimal(d["value"]),
                start=_parse(d["start"]),
                periods=d["periods"],
                description=d.get("description"),
            )
            for d in doc["discounts"]
        ),
        trial_end=_parse_opt(doc.get("trial_end")),
        end=row.end_at,
        cancel_mode=None if doc.get("cancel_mode") is None else CancelMode(doc["cancel_mode"]),
        canceled_at=_parse_opt(doc.get("canceled_at")),
        cycles=tuple(
            CycleChange(_parse(c["at"]), Interval(c["interval"]), Anchor(c["anchor"]))
            for c in doc.get("cycles", [])
        ),
        overrides=tuple(override_from_json(o) for o in doc.get("overrides", [])),
    )


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _parse_opt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
