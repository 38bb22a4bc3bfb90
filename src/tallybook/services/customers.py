"""Customers: create, read, list, update. A child customer is billed to its parent.

Rules: ids are 1-255 printable characters; the currency is an ISO 4217 code; the time
zone an IANA name (``invalid_timezone`` otherwise); a parent must exist, must not have a
parent itself (one level) and must bill in the same currency. Events may arrive before
their customer exists: usage is keyed by the customer id, so it counts once the customer
(and a subscription) exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tallybook.domain.errors import CurrencyMismatch, NotFound, ValidationError
from tallybook.domain.money import minor_units
from tallybook.domain.periods import load_zone
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.finance.parties import BUYER_FIELDS, buyer_with
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import Clock, CustomerStore, TaxRateStore
from tallybook.services.shared_reads import remembered

MAX_ID = 255
MUTABLE = frozenset({"name", "email", "timezone"}) | BUYER_FIELDS
IMMUTABLE = frozenset({"id", "currency", "parent", "created_at", "archived_at"})


def customer_not_found(customer_id: str) -> NotFound:
    return NotFound(
        f"no customer {customer_id!r}",
        code="customer_not_found",
        details={"customer": customer_id},
    )


def check_id(value: str, field: str = "id") -> str:
    if not 1 <= len(value) <= MAX_ID or not value.isprintable():
        raise ValidationError(
            f"{field} must be 1-{MAX_ID} printable characters", code=f"invalid_{field}"
        )
    return value


def check_text(value: str | None, field: str) -> str | None:
    """Free text (names, emails, descriptions): printable, no control characters."""
    if value is not None and not value.isprintable():
        raise ValidationError(
            f"{field} must be printable text without control characters", code=f"invalid_{field}"
        )
    return value


class CustomerService:
    def __init__(self, store: CustomerStore, clock: Clock, tax_rates: TaxRateStore | None = None):
        self._store = store
        self._clock = clock
        self._tax_rates = tax_rates  # to check the ids a customer's ``tax_rates`` names

    def create(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        currency: str,
        timezone: str = "UTC",
        name: str | None = None,
        email: str | None = None,
        parent: str | None = None,
    ) -> Customer:
        check_id(customer_id)
        check_text(name, "name")
        check_text(email, "email")
        minor_units(currency)  # unknown_currency
        load_zone(timezone)  # invalid_timezone
        if parent is not None:
            self._check_parent(tenant_id, customer_id, parent, currency)
        customer = Customer(
            id=customer_id,
            currency=currency,
            timezone=timezone,
            name=name,
            email=email,
            parent=parent,
            created_at=self._clock.now(),
        )
        self._store.insert(tenant_id, customer)
        return customer

    def _check_parent(self, tenant_id: str, customer_id: str, parent: str, currency: str) -> None:
        if parent == customer_id:
            raise ValidationError("a customer cannot be its own parent", code="invalid_parent")
        found = self._store.get(tenant_id, parent)
        if found is None:
            raise NotFound(
                f"no parent customer {parent!r}",
                code="customer_not_found",
                details={"parent": parent},
            )
        if found.parent is not None:
            raise ValidationError(
                f"{parent!r} is itself billed to {found.parent!r}: parents are one level deep",
                code="invalid_parent",
                details={"parent": parent},
            )
        if found.currency != currency:
            raise CurrencyMismatch(
                f"a child bills in its parent's currency ({found.currency}), not {currency}",
                details={"parent": found.currency, "currency": currency},
            )

    def _rate_known(self, tenant_id: str, rate_id: str) -> bool:
        return self._tax_rates is not None and self._tax_rates.get(tenant_id, rate_id) is not None

    def get(self, tenant_id: str, customer_id: str) -> Customer:
        found = remembered(
            ("customer", tenant_id, customer_id), lambda: self._store.get(tenant_id, customer_id)
        )
        if found is None:
            raise customer_not_found(customer_id)
        return found

    def get_many(self, tenant_id: str, ids: Iterable[str]) -> dict[str, Customer]:
        return self._store.get_many(tenant_id, ids)

    def page(
        self,
        tenant_id: str,
        *,
        limit: int = 50,
        starting_after: str | None = None,
        parent: str | None = None,
    ) -> Sequence[Customer]:
        return self._store.page(
            tenant_id, limit=limit, starting_after=starting_after, parent=parent
        )

    def list(
        self,
        tenant_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        parent: str | None = None,
        email: str | None = None,
        query: str | None = None,
        include_archived: bool = False,
    ) -> Page[Customer]:
        """A page of customers by id. ``email``: exact, case-insensitive; ``query``: a
        case-insensitive substring of the id or name; archived ones only when asked.
        Raises ``ValidationError`` ``invalid_limit`` / ``invalid_cursor``."""
        after = decode_cursor(cursor, (str,))
        rows = self._store.page(
            tenant_id,
            limit=check_limit(limit) + 1,
            starting_after=None if after is None else str(after[0]),
            parent=parent,
            email=email,
            query=query,
            include_archived=include_archived,
        )
        return page_of(rows, limit, lambda c: [c.id])

    def update(self, tenant_id: str, customer_id: str, changes: Mapping[str, Any]) -> Customer:
        """Change ``name``, ``email`` and/or ``timezone`` (a None name or email clears it),
        and the buyer details (``services.finance.parties.buyer_with``: ``legal_name``,
        ``address``, ``tax_id``, ``billing_emails``, ``locale``, ``tax_rates``, ``tax_exempt``).

        A new time zone applies to subscriptions created afterwards: each subscription keeps
        the zone it was created in, so no billed period (and no finalized invoice) moves.
        Raises ``ValidationError`` (``immutable_field``, ``unknown_field``,
        ``invalid_timezone``, ``invalid_name``, ``invalid_email``) and ``NotFound``.
        """
        current = self.get(tenant_id, customer_id)
        values: dict[str, Any] = {}
        finance = {k: v for k, v in changes.items() if k in BUYER_FIELDS}
        for field, value in changes.items():
            if field in BUYER_FIELDS:
                continue
            if field in IMMUTABLE:
                raise ValidationError(
                    f"{field} cannot be changed after a customer is created",
                    code="immutable_field",
                    details={"field": field, "mutable": sorted(MUTABLE)},
                )
            if field not in MUTABLE:
                raise ValidationError(
                    f"unknown field {field!r}",
                    code="unknown_field",
                    details={"field": field[:100], "mutable": sorted(MUTABLE)},
                )
            if field == "timezone":
                if value is None:
                    raise ValidationError("timezone cannot be null", code="invalid_timezone")
                load_zone(value)  # invalid_timezone
            else:
                check_text(value, field)
            values[field] = value
        if finance:
            values["billing"] = buyer_with(
                current.billing, finance, lambda rate: self._rate_known(tenant_id, rate)
            )
        updated = self._store.update(tenant_id, customer_id, values)
        if updated is None:
            raise customer_not_found(customer_id)
        return updated
