"""Entitlements: may this customer use this feature now, and how much is left?

Pure rules (CONTRACT.md Part 2, "Alerts, spend limits, entitlements"); the service
(``services.entitlements``) gathers the inputs: the customer's plan in force now, its
per-customer override, the meter's usage in the current billing period and whether a
hard spend limit is reached.

- **boolean** and **static** features: access while the customer's plan lists them
  (static ones answer their ``config``).
- **metered** features: ``usage`` is the meter's aggregate over the billing period
  holding now; ``remaining = max(0, limit - usage)``, ``overage = max(0, usage - limit)``.
  A *hard* limit grants access iff ``usage + units <= limit``. A *soft* limit always
  grants access; when ``usage + units > limit`` the answer still says
  ``reason: limit_reached`` so a caller can warn (access stays ``true``).
- A reached **hard spend limit** refuses every metered feature
  (``reason: spend_limit_reached``) whatever its own limit says; boolean and static
  features are not affected.
- **Overrides** per customer: ``enabled: false`` takes a plan's feature away
  (``not_in_plan``); ``enabled: true`` grants a feature the plan lacks, with the
  tenant's definition of it; ``limit`` and ``hard`` replace a metered feature's.

Order of reasons, first that applies: ``no_subscription``, ``not_in_plan``,
``spend_limit_reached``, ``limit_reached``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.catalog.model import Feature, FeatureType

ZERO = Decimal(0)


class Reason(StrEnum):
    NOT_IN_PLAN = "not_in_plan"
    NO_SUBSCRIPTION = "no_subscription"
    LIMIT_REACHED = "limit_reached"
    SPEND_LIMIT_REACHED = "spend_limit_reached"


@dataclass(frozen=True, slots=True)
class Override:
    """A customer's override of one feature; None fields keep the plan's value."""

    enabled: bool | None = None
    limit: Decimal | None = None
    hard: bool | None = None


@dataclass(frozen=True, slots=True)
class Entitlement:
    """The answer of ``GET /v1/customers/{id}/entitlements/{feature}``.

    ``usage``, ``limit``, ``remaining`` and ``overage`` are set for metered features
    only; ``config`` for static ones; ``reset_at`` is the end of the usage window
    (the billing period holding ``as_of``) for metered features.
    """

    feature: str
    has_access: bool
    reason: Reason | None
    as_of: datetime
    usage: Decimal | None = None
    limit: Decimal | None = None
    remaining: Decimal | None = None
    overage: Decimal | None = None
    config: Mapping[str, Any] | None = None
    reset_at: datetime | None = None
    type: FeatureType | None = None
    hard: bool | None = None


def effective_feature(
    in_plan: Feature | None, definition: Feature | None, override: Override | None
) -> Feature | None:
    """The feature as it applies to one customer, or None when the customer lacks it.

    ``in_plan``: the feature in the customer's plan in force now (None if absent);
    ``definition``: the tenant's definition of the key (used when an override enables a
    feature the plan lacks).
    """
    if override is not None and override.enabled is False:
        return None
    base = in_plan
    if base is None and override is not None and override.enabled:
        base = definition
    if base is None:
        return None
    if base.type is FeatureType.METERED and override is not None:
        base = replace(
            base,
            limit=base.limit if override.limit is None else override.limit,
            hard=base.hard if override.hard is None else override.hard,
        )
    return base


def refused(key: str, reason: Reason, as_of: datetime) -> Entitlement:
    """No access for a reason that needs no usage (no subscription, not in the plan)."""
    return Entitlement(feature=key, has_access=False, reason=reason, as_of=as_of)


def decide(
    feature: Feature,
    *,
    usage: Decimal | None,
    units: Decimal,
    spend_blocked: bool,
    reset_at: datetime | None,
    as_of: datetime,
) -> Entitlement:
    """The entitlement of a feature the customer has (``effective_feature`` not None).

    ``usage`` is the metered feature's period usage (ignored otherwise); ``units`` the
    units about to be used (>= 0); ``spend_blocked``: a hard spend limit is reached.
    """
    if feature.type is not FeatureType.METERED:
        config = feature.config if feature.type is FeatureType.STATIC else None
        return Entitlement(feature.key, True, None, as_of, config=config or None, type=feature.type)
    used = usage if usage is not None else ZERO
    limit = feature.limit if feature.limit is not None else ZERO
    over = used + units > limit
    reason: Reason | None = None
    if spend_blocked:
        reason = Reason.SPEND_LIMIT_REACHED
    elif over:
        reason = Reason.LIMIT_REACHED
    has_access = not spend_blocked and (not over or not feature.hard)
    return Entitlement(
        feature=feature.key,
        has_access=has_access,
        reason=reason,
        as_of=as_of,
        usage=used,
        limit=limit,
        remaining=max(ZERO, limit - used),
        overage=max(ZERO, used - limit),
        reset_at=reset_at,
        type=feature.type,
        hard=feature.hard,
    )
