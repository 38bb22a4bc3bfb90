"""Sticky experiment assignment (CONTRACT.md, Experiments and analytics).

A customer is in the treatment arm iff
``int(sha256("<key>:<customer>").hexdigest()[:8], 16) % 10000 < share x 10000``.
The bucket depends only on the key and the customer, so the answer is the same in every
process and after restarts; raising ``share`` only moves control buckets into treatment.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum

from tallybook.domain.errors import ValidationError

BUCKETS = 10_000
ONE = Decimal(1)
ZERO = Decimal(0)


class Arm(StrEnum):
    CONTROL = "control"
    TREATMENT = "treatment"


def bucket(key: str, customer: str) -> int:
    """The customer's bucket, 0-9999, for experiment ``key``."""
    digest = hashlib.sha256(f"{key}:{customer}".encode()).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def assign(key: str, customer: str, share: Decimal) -> Arm:
    """The arm a new customer gets with ``share`` (0-1) of customers in treatment."""
    check_share(share)
    return Arm.TREATMENT if bucket(key, customer) < share * BUCKETS else Arm.CONTROL


def check_share(share: Decimal) -> Decimal:
    """``share`` itself when within 0-1; ``ValidationError`` (``invalid_share``) otherwise."""
    if not ZERO <= share <= ONE:
        raise ValidationError(
            f"share must be within 0-1, got {share}",
            code="invalid_share",
            details={"share": str(share)},
        )
    return share
