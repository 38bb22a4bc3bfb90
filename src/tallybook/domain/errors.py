"""The one error tree of Tallybook.

Every error a caller can act on carries a machine ``code`` (snake_case) and optional
``details``; the HTTP edge (``tallybook.api.errors``) maps each class to a status once,
and the CLI prints the code and message. Nothing here knows about HTTP.

    TallybookError
    ├── ValidationError          bad input: shape, value, reference      -> 422 / 400
    │   ├── CurrencyMismatch     adding USD to EUR
    │   └── UnknownCurrency
    ├── NotFound                 the tenant has no such resource          -> 404
    ├── Conflict                 the request contradicts stored state     -> 409
    │   └── WriteConflict        a concurrent write won a uniqueness race (retry the unit of work)
    ├── Unauthorized             missing or unknown API key               -> 401
    ├── Forbidden                the key's roles do not allow the call    -> 403
    ├── PayloadTooLarge          body or batch over the configured limit  -> 413
    ├── StoreUnavailable         the database cannot be reached           -> 503
    └── ProviderUnavailable      the payment provider did not answer      -> 503
"""

from __future__ import annotations

from typing import Any


class TallybookError(Exception):
    """Base of every error Tallybook raises on purpose."""

    code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}


class ValidationError(TallybookError):
    code = "validation_error"


class CurrencyMismatch(ValidationError):
    code = "currency_mismatch"


class UnknownCurrency(ValidationError):
    code = "unknown_currency"


class NotFound(TallybookError):
    code = "not_found"


class Conflict(TallybookError):
    code = "conflict"


class WriteConflict(Conflict):
    """A unit of work lost a race on a unique key to a concurrent one; retrying it is safe."""

    code = "write_conflict"


class Unauthorized(TallybookError):
    code = "unauthorized"


class Forbidden(TallybookError):
    """The caller is known but may not do this (its roles, or approving its own change)."""

    code = "forbidden"


class PayloadTooLarge(TallybookError):
    code = "payload_too_large"


class StoreUnavailable(TallybookError):
    code = "store_unavailable"


class ProviderUnavailable(TallybookError):
    """The payment provider could not be reached or failed; retrying later may work."""

    code = "provider_unavailable"
