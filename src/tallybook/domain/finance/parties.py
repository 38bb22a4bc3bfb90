"""Who an invoice is from and for: the tenant's seller profile and a customer's buyer details.

Both are plain values checked here for shape and size (CONTRACT.md Part 2, "Invoices for
finance"); e-mail syntax is checked by the service (a library parses addresses). A final
invoice keeps a *snapshot* of both (``snapshot``), so later edits never change it.

- ``Seller``: ``legal_name``, ``address``, ``tax_id``, ``email``, ``logo_url``, ``footer``,
  ``logo`` (the SHA-256 of the uploaded logo image, ``domain.finance.logos``; set only by
  the logo upload, so a final invoice's snapshot names the logo it was finalized with),
  and the number prefix of each series: ``invoice_prefix`` (default ``INV-``) and
  ``credit_note_prefix`` (default ``CN-``), 1-20 of ``A-Z a-z 0-9 . _ / -``, ending in a
  non-digit so the number can be read back (``check_number_prefix``).
- ``BuyerDetails``: ``legal_name``, ``address``, ``tax_id``, ``billing_emails``,
  ``locale``, ``tax_rates`` (ids of the tenant's tax rates), ``tax_exempt``
  (``none`` | ``exempt`` | ``reverse_charge``).
- ``Address``: ``line1``, ``line2``, ``city``, ``postal_code``, ``region``, ``country``
  (ISO 3166-1 alpha-2, upper case).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from tallybook.domain.errors import ValidationError

MAX_TEXT = 255
MAX_FOOTER = 1000
MAX_URL = 2048
MAX_EMAILS = 10
MAX_RATES = 5
MAX_PREFIX = 20
_PREFIX_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-")


class TaxExempt(StrEnum):
    """A customer's tax status: taxed normally, exempt, or reverse charge (the buyer
    accounts for VAT: EU Council Directive 2006/112/EC, art. 196)."""

    NONE = "none"
    EXEMPT = "exempt"
    REVERSE_CHARGE = "reverse_charge"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def lines(self) -> tuple[str, ...]:
        """The address as printed, one line per part present."""
        city = " ".join(p for p in (self.postal_code, self.city) if p)
        parts = (self.line1, self.line2, city, self.region, self.country)
        return tuple(p for p in parts if p)

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None, field: str = "address") -> Address | None:
        """An address from its JSON shape (None stays None). ValidationError
        ``invalid_address`` for unknown keys, non-text values, or a country that is not
        two letters."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValidationError(f"{field} must be an object", code="invalid_address")
        known = {f.name for f in fields(Address)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"{field} has unknown fields: {', '.join(unknown)[:200]}",
                code="invalid_address",
                details={"allowed": sorted(known)},
            )
        values = {k: check_text(data.get(k), f"{field}.{k}", code="invalid_address") for k in known}
        country = values.get("country")
        if country is not None:
            if len(country) != 2 or not country.isascii() or not country.isalpha():
                raise ValidationError(
                    f"{field}.country must be an ISO 3166-1 alpha-2 code such as DE",
                    code="invalid_address",
                )
            values["country"] = country.upper()
        return Address(**values)


@dataclass(frozen=True, slots=True)
class Seller:
    """The tenant as the seller printed on its invoices (all optional; the tenant's name
    is used when there is no ``legal_name``)."""

    legal_name: str | None = None
    address: Address | None = None
    tax_id: str | None = None
    email: str | None = None
    logo_url: str | None = None
    footer: str | None = None
    invoice_prefix: str | None = None
    credit_note_prefix: str | None = None
    logo: str | None = None  # SHA-256 (hex) of the uploaded logo (PUT /v1/tenant/logo)

    def to_dict(self) -> dict[str, Any]:
        return {
            "legal_name": self.legal_name,
            "address": None if self.address is None else self.address.to_dict(),
            "tax_id": self.tax_id,
            "email": self.email,
            "logo_url": self.logo_url,
            "footer": self.footer,
            "invoice_prefix": self.invoice_prefix,
            "credit_note_prefix": self.credit_note_prefix,
            "logo": self.logo,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None) -> Seller:
        """A seller from its stored or API shape (``to_dict``); None is the empty seller."""
        if not data:
            return Seller()
        return Seller(
            legal_name=data.get("legal_name"),
            address=Address.from_dict(data.get("address")),
            tax_id=data.get("tax_id"),
            email=data.get("email"),
            logo_url=data.get("logo_url"),
            footer=data.get("footer"),
            invoice_prefix=data.get("invoice_prefix"),
            credit_note_prefix=data.get("credit_note_prefix"),
            logo=data.get("logo"),
        )


@dataclass(frozen=True, slots=True)
class BuyerDetails:
    """A customer's details for invoices and taxes (all optional)."""

    legal_name: str | None = None
    address: Address | None = None
    tax_id: str | None = None
    billing_emails: tuple[str, ...] = ()
    locale: str | None = None
    tax_rates: tuple[str, ...] = ()
    tax_exempt: TaxExempt = TaxExempt.NONE

    def to_dict(self) -> dict[str, Any]:
        return {
            "legal_name": self.legal_name,
            "address": None if self.address is None else self.address.to_dict(),
            "tax_id": self.tax_id,
            "billing_emails": list(self.billing_emails),
            "locale": self.locale,
            "tax_rates": list(self.tax_rates),
            "tax_exempt": self.tax_exempt.value,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None) -> BuyerDetails:
        """Details from the stored shape (``to_dict``); None is no details."""
        if not data:
            return BuyerDetails()
        return BuyerDetails(
            legal_name=data.get("legal_name"),
            address=Address.from_dict(data.get("address")),
            tax_id=data.get("tax_id"),
            billing_emails=tuple(data.get("billing_emails") or ()),
            locale=data.get("locale"),
            tax_rates=tuple(data.get("tax_rates") or ()),
            tax_exempt=TaxExempt(data.get("tax_exempt") or TaxExempt.NONE.value),
        )


NO_DETAILS = BuyerDetails()


def check_text(
    value: object, field: str, *, limit: int = MAX_TEXT, code: str = "invalid_text"
) -> str | None:
    """``value`` as bounded printable text (None stays None). ValidationError ``code``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", code=code, details={"field": field})
    stripped = value.strip()
    if not stripped or len(stripped) > limit or not stripped.isprintable():
        raise ValidationError(
            f"{field} must be 1-{limit} printable characters",
            code=code,
            details={"field": field},
        )
    return stripped


def check_multiline(value: object, field: str, *, limit: int = MAX_FOOTER) -> str | None:
    """Text that may hold line breaks (a footer): each line printable, ``limit`` in all."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(
            f"{field} must be text of at most {limit} characters", code="invalid_text"
        )
    lines = value.replace("\r\n", "\n").split("\n")
    if not all(line.isprintable() for line in lines):
        raise ValidationError(f"{field} has control characters", code="invalid_text")
    return "\n".join(line.rstrip() for line in lines).strip() or None


def check_number_prefix(value: object, field: str) -> str | None:
    """A number series prefix (None: the default). ValidationError ``invalid_number_prefix``
    unless 1-20 of ``A-Z a-z 0-9 . _ / -`` ending in a non-digit (``ACME-2026-``)."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_PREFIX
        or not set(value) <= _PREFIX_CHARS
        or value[-1].isdigit()
    ):
        raise ValidationError(
            f"{field} must be 1-{MAX_PREFIX} of A-Z a-z 0-9 . _ / - ending in a non-digit",
            code="invalid_number_prefix",
            details={"field": field},
        )
    return value


def tax_exempt_of(value: object) -> TaxExempt:
    """Parse ``tax_exempt``. ValidationError ``invalid_tax_exempt``."""
    try:
        return TaxExempt(str(value))
    except ValueError:
        raise ValidationError(
            'tax_exempt must be "none", "exempt" or "reverse_charge"', code="invalid_tax_exempt"
        ) from None


def snapshot(
    seller: Seller, fallback_name: str, buyer: BuyerDetails, customer: Any
) -> dict[str, Any]:
    """The parties a final invoice keeps: the seller (its ``legal_name`` defaults to
    ``fallback_name``, the tenant's name) and the buyer (``customer``'s id, name and
    e-mail with its details)."""
    seller_doc = seller.to_dict()
    seller_doc["legal_name"] = seller.legal_name or fallback_name
    buyer_doc = buyer.to_dict()
    buyer_doc.update({"customer": customer.id, "name": customer.name, "email": customer.email})
    buyer_doc["legal_name"] = buyer.legal_name or customer.name or customer.id
    return {"seller": seller_doc, "buyer": buyer_doc}
