"""The seller profile of a tenant and the buyer details of a customer (use cases).

``InvoiceSettings`` reads and sets the tenant's ``seller`` and ``email_invoices``
(``PATCH /v1/tenant``); ``buyer_with`` checks a ``PATCH /v1/customers/{id}``'s finance
fields into new ``BuyerDetails``. E-mail addresses are parsed by ``email-validator``
(syntax only: no DNS lookups; the reserved ``.test`` domain is allowed for test setups,
other special-use names such as ``.local`` or ``localhost`` are refused). Errors are ``ValidationError`` with the codes below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from tallybook.domain.errors import ValidationError
from tallybook.domain.finance.logos import Logo
from tallybook.domain.finance.parties import (
    MAX_EMAILS,
    MAX_RATES,
    MAX_URL,
    Address,
    BuyerDetails,
    Seller,
    check_multiline,
    check_number_prefix,
    check_text,
    tax_exempt_of,
)
from tallybook.domain.subscriptions.model import Customer
from tallybook.services.ports import LogoStore, TenantStore

BUYER_FIELDS = frozenset(
    {"legal_name", "address", "tax_id", "billing_emails", "locale", "tax_rates", "tax_exempt"}
)
SELLER_FIELDS = frozenset(
    {
        "legal_name",
        "address",
        "tax_id",
        "email",
        "logo_url",
        "footer",
        "invoice_prefix",
        "credit_note_prefix",
        "logo",  # read-only: shown by GET, ignored by PATCH (PUT /v1/tenant/logo sets it)
    }
)
MAX_LOCALE = 35


def check_email(value: object, field: str) -> str:
    """A normalized e-mail address. ValidationError ``invalid_email``."""
    if not isinstance(value, str) or len(value) > 320:
        raise ValidationError(f"{field} must be an e-mail address", code="invalid_email")
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as error:
        raise ValidationError(
            f"{field} is not an e-mail address: {error}",
            code="invalid_email",
            details={"field": field},
        ) from None


def check_logo_url(value: object) -> str | None:
    """An https (or http) URL of an image. ValidationError ``invalid_logo_url``."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_URL
        or not value.isprintable()
        or not value.startswith(("https://", "http://"))
        or " " in value
    ):
        raise ValidationError(
            f"logo_url must be an http(s) URL of at most {MAX_URL} characters",
            code="invalid_logo_url",
        )
    return value


def seller_from(data: Mapping[str, Any] | None) -> Seller:
    """A checked seller profile from a request (None clears it). ValidationError
    ``unknown_field``, ``invalid_text``, ``invalid_address``, ``invalid_email``,
    ``invalid_logo_url``, ``invalid_number_prefix``."""
    if data is None:
        return Seller()
    unknown = sorted(set(data) - SELLER_FIELDS)
    if unknown:
        raise ValidationError(
            f"seller has unknown fields: {', '.join(unknown)[:200]}",
            code="unknown_field",
            details={"allowed": sorted(SELLER_FIELDS)},
        )
    email = data.get("email")
    return Seller(
        legal_name=check_text(data.get("legal_name"), "seller.legal_name"),
        address=Address.from_dict(data.get("address"), "seller.address"),
        tax_id=check_text(data.get("tax_id"), "seller.tax_id", limit=64),
        email=None if email is None else check_email(email, "seller.email"),
        logo_url=check_logo_url(data.get("logo_url")),
        footer=check_multiline(data.get("footer"), "seller.footer"),
        invoice_prefix=check_number_prefix(data.get("invoice_prefix"), "seller.invoice_prefix"),
        credit_note_prefix=check_number_prefix(
            data.get("credit_note_prefix"), "seller.credit_note_prefix"
        ),
    )


def buyer_with(
    current: BuyerDetails, changes: Mapping[str, Any], rate_known: Callable[[str], bool]
) -> BuyerDetails:
    """``current`` with the finance fields of ``changes`` (None clears a field; ``tax_rates``
    must name the tenant's rates). ValidationError ``invalid_text``, ``invalid_address``,
    ``invalid_email``, ``invalid_billing_emails``, ``invalid_locale``, ``invalid_tax_rates``,
    ``unknown_tax_rate``, ``invalid_tax_exempt``."""
    values = current.to_dict()
    values["address"] = current.address
    for field, value in changes.items():
        if field == "legal_name":
            values[field] = check_text(value, "legal_name")
        elif field == "tax_id":
            values[field] = check_text(value, "tax_id", limit=64)
        elif field == "address":
            values[field] = Address.from_dict(value)
        elif field == "billing_emails":
            values[field] = _emails(value)
        elif field == "locale":
            values[field] = _locale(value)
        elif field == "tax_rates":
            values[field] = _rates(value, rate_known)
        elif field == "tax_exempt":
            values[field] = tax_exempt_of("none" if value is None else value)
    return BuyerDetails(
        legal_name=values["legal_name"],
        address=values["address"],
        tax_id=values["tax_id"],
        billing_emails=tuple(values["billing_emails"] or ()),
        locale=values["locale"],
        tax_rates=tuple(values["tax_rates"] or ()),
        tax_exempt=tax_exempt_of(values["tax_exempt"]),
    )


def _emails(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_EMAILS:
        raise ValidationError(
            f"billing_emails must be a list of at most {MAX_EMAILS} addresses",
            code="invalid_billing_emails",
        )
    found: list[str] = []
    for index, item in enumerate(value):
        address = check_email(item, f"billing_emails[{index}]")
        if address not in found:
            found.append(address)
    return tuple(found)


def _locale(value: object) -> str | None:
    if value is None:
        return None
    text = check_text(value, "locale", limit=MAX_LOCALE, code="invalid_locale")
    assert text is not None
    try:
        Locale.parse(text.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValidationError(
            f"locale {text!r} is not a known locale (e.g. en_US, de_DE, ja_JP)",
            code="invalid_locale",
        ) from None
    return text.replace("-", "_")


def _rates(value: object, rate_known: Callable[[str], bool]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RATES:
        raise ValidationError(
            f"tax_rates must be a list of at most {MAX_RATES} tax rate ids",
            code="invalid_tax_rates",
        )
    if not all(isinstance(item, str) for item in value):
        raise ValidationError("tax_rates must be tax rate ids", code="invalid_tax_rates")
    missing = [item for item in value if not rate_known(item)]
    if missing:
        raise ValidationError(
            f"no tax rate {missing[0][:100]!r}",
            code="unknown_tax_rate",
            details={"tax_rates": [m[:100] for m in missing]},
        )
    return tuple(dict.fromkeys(value))


class InvoiceSettings:
    """The tenant's seller profile and e-mail delivery switch; ``logos`` finds the logo
    images a seller profile or a parties snapshot names by hash."""

    def __init__(self, store: TenantStore, logos: LogoStore | None = None):
        self._store = store
        self._logos = logos

    def logo(self, tenant_id: str, sha256: object) -> Logo | None:
        """The logo with hash ``sha256`` (a seller profile's or snapshot's ``logo``), or
        None (no hash, no logo store, or not stored)."""
        if not isinstance(sha256, str) or not sha256 or self._logos is None:
            return None
        return self._logos.get_logo(tenant_id, sha256)

    def set_logo(self, tenant_id: str, sha256: str | None) -> None:
        """Point the seller profile at the logo ``sha256`` (None: no logo)."""
        current = self.seller(tenant_id)
        values = replace(current, logo=sha256)
        self._store.set_finance(
            tenant_id, {"seller": None if values == Seller() else values.to_dict()}
        )

    def seller(self, tenant_id: str) -> Seller:
        row = self._store.get(tenant_id)
        return Seller() if row is None else Seller.from_dict(row.seller)

    def email_invoices(self, tenant_id: str) -> bool:
        row = self._store.get(tenant_id)
        return bool(row is not None and row.email_invoices)

    def name(self, tenant_id: str) -> str:
        row = self._store.get(tenant_id)
        return tenant_id if row is None else row.name

    def update(
        self,
        tenant_id: str,
        *,
        seller: Mapping[str, Any] | bool | None = False,
        email_invoices: bool | None = None,
    ) -> None:
        """Replace the seller profile (``seller=None`` clears it; ``False`` leaves it) and/or
        set ``email_invoices``."""
        values: dict[str, Any] = {}
        if seller is not False:
            checked = seller_from(seller if isinstance(seller, Mapping) else None)
            checked = replace(checked, logo=self.seller(tenant_id).logo)  # the upload's own
            values["seller"] = None if checked == Seller() else checked.to_dict()
        if email_invoices is not None:
            values["email_invoices"] = email_invoices
        self._store.set_finance(tenant_id, values)


def buyer_json(customer: Customer) -> dict[str, Any]:
    """A customer's finance fields, as ``GET /v1/customers/{id}`` shows them."""
    return customer.billing.to_dict()
