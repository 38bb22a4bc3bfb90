"""Catalog changes under governance: statuses, timing, guard rails, when each
subscription switches (CONTRACT.md, governance).

A change is a catalog document proposed with an ``effective_at``, a ``timing`` and a
policy for ``existing`` subscribers. Its life: ``pending_approval`` -> ``approved``
(scheduled: ``effective_at`` ahead) -> ``active`` -> ``superseded`` (a later approved
change of one of its plans became active), or ``rejected``. Only ``pending_approval``,
``approved`` and ``rejected`` are stored; ``active`` and ``superseded`` follow from
the clock and the other approved changes (``shown_status``).

Guard rails a tenant configures (``GuardRails``): the largest allowed price increase and
decrease in percent, per price field, and the minimum notice in days for an increase.
A price field is any ``amount``, ``unit_amount``, ``flat_amount``, ``package_amount``,
``fixed_amount``, ``rate``, ``min_per_event``, ``max_per_event`` or ``minimum_spend``
leaf of a plan document (tiers compared position by position).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tallybook.domain.subscriptions.model import Phase, PlanRef, Subscription

HUNDRED = Decimal(100)
PRICE_FIELDS = frozenset(
    {
        "amount",
        "unit_amount",
        "flat_amount",
        "package_amount",
        "fixed_amount",
        "rate",
        "min_per_event",
        "max_per_event",
        "minimum_spend",
    }
)


class ChangeStatus(StrEnum):
    PENDING = "pending_approval"
    APPROVED = "approved"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


class ChangeTiming(StrEnum):
    NEXT_PERIOD = "next_period"  # each subscription at its first period start >= effective_at
    IMMEDIATE = "immediate"  # the period holding effective_at splits there (a plan change)


class Existing(StrEnum):
    MIGRATE = "migrate"
    GRANDFATHER = "grandfather"  # existing subscriptions keep their version


@dataclass(frozen=True, slots=True)
class GuardRails:
    """A tenant's governance settings. None = no limit."""

    require_approval: bool = False
    max_increase_pct: Decimal | None = None
    max_decrease_pct: Decimal | None = None
    min_notice_days: int | None = None


@dataclass(frozen=True, slots=True)
class PriceMove:
    """One price leaf that changes: ``path`` as in the diff, percent change (None when the
    old price was zero)."""

    path: str
    old: Decimal
    new: Decimal

    @property
    def percent(self) -> Decimal | None:
        if self.old == 0:
            return None
        return (self.new - self.old) / abs(self.old) * HUNDRED


@dataclass(frozen=True, slots=True)
class Check:
    """One automatic check of a change: ``ok`` and a message for people."""

    name: str
    ok: bool
    message: str
    details: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "message": self.message,
            "details": dict(self.details or {}),
        }


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def price_moves(path: str, old: Any, new: Any) -> list[PriceMove]:
    """The price leaves that differ between ``old`` and ``new`` at ``path`` (a field of
    the catalog diff; tier lists are compared position by position)."""
    if isinstance(old, list) and isinstance(new, list):
        moves: list[PriceMove] = []
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            moves += price_moves(f"{path}[{index}]", a, b)
        return moves
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        moves = []
        for name in old:
            if name in new:
                moves += price_moves(f"{path}.{name}", old[name], new[name])
        return moves
    leaf = path.rsplit(".", 1)[-1]
    a, b = _number(old), _number(new)
    if leaf in PRICE_FIELDS and a is not None and b is not None and a != b:
        return [PriceMove(path, a, b)]
    return []


def guard_rail_checks(
    moves: Sequence[PriceMove], rails: GuardRails, effective_at: datetime, now: datetime
) -> list[Check]:
    """The guard-rail checks of a change's price moves (one check per configured rail)."""
    checks: list[Check] = []
    increases = [m for m in moves if m.new > m.old]
    if rails.max_increase_pct is not None:
        over = [m for m in increases if m.percent is None or m.percent > rails.max_increase_pct]
        checks.append(
            _rail("max_increase_pct", over, f"increases of at most {rails.max_increase_pct}%")
        )
    if rails.max_decrease_pct is not None:
        limit = -rails.max_decrease_pct
        over = [m for m in moves if m.new < m.old and (m.percent or Decimal(0)) < limit]
        checks.append(
            _rail("max_decrease_pct", over, f"decreases of at most {rails.max_decrease_pct}%")
        )
    if rails.min_notice_days is not None and increases:
        notice = effective_at - now
        ok = notice >= timedelta(days=rails.min_notice_days)
        checks.append(
            Check(
                "min_notice_days",
                ok,
                f"price increases need {rails.min_notice_days} days of notice"
                + ("" if ok else f"; this change gives {max(notice.days, 0)}"),
                {"paths": [m.path for m in increases]},
            )
        )
    return checks


def _rail(name: str, over: Sequence[PriceMove], rule: str) -> Check:
    if not over:
        return Check(name, True, f"every price move is within {rule}")
    return Check(
        name,
        False,
        f"{len(over)} price move(s) exceed {rule}",
        {"moves": [_move_json(m) for m in over[:50]]},
    )


def _move_json(move: PriceMove) -> dict[str, Any]:
    pct = move.percent
    return {
        "path": move.path,
        "old": f"{move.old:f}",
        "new": f"{move.new:f}",
        "percent": None if pct is None else f"{pct.quantize(Decimal('0.01')):f}",
    }


def switch_at(sub: Subscription, effective_at: datetime, timing: ChangeTiming) -> datetime | None:
    """When ``sub`` takes a change effective at ``effective_at``: ``immediate`` at
    ``effective_at`` itself (never before the subscription start), ``next_period`` at its
    first period start at or after ``effective_at``, in its own time zone. None when the
    subscription has ended by then."""
    at = max(effective_at, sub.start)
    if timing is ChangeTiming.NEXT_PERIOD and at > sub.billing_start:
        period = sub.period_at(at)
        if period is not None and period.start != at:
            at = period.end
    if sub.end is not None and at >= sub.end:
        return None
    return at


@dataclass(frozen=True, slots=True)
class ApprovedChange:
    """What ``shown_status`` needs of an approved change."""

    id: str
    plans: frozenset[str]
    effective_at: datetime
    decided_at: datetime


def shown_status(
    stored: ChangeStatus,
    change: ApprovedChange,
    approved: Iterable[ApprovedChange],
    now: datetime,
) -> ChangeStatus:
    """An approved change is ``superseded`` once a change of one of its plans approved
    after it has taken effect (the later decision wins, as in the subscriptions'
    schedules: its switch replaces every later one); else ``approved`` (scheduled) until
    its ``effective_at``, then ``active``."""
    if stored is not ChangeStatus.APPROVED:
        return stored
    for other in approved:
        if (
            other.id != change.id
            and other.plans & change.plans
            and other.effective_at <= now
            and other.decided_at > change.decided_at
        ):
            return ChangeStatus.SUPERSEDED
    return ChangeStatus.APPROVED if change.effective_at > now else ChangeStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ScheduledVersion:
    """An approved change of one plan: ``from_version`` -> ``to_version`` at
    ``effective_at`` with ``timing``."""

    effective_at: datetime
    timing: ChangeTiming
    from_version: int
    to_version: int
    decided_at: datetime


def new_subscription_phases(
    sub: Subscription, schedule: Sequence[ScheduledVersion]
) -> tuple[Phase, ...] | None:
    """The phases of a new subscription on a plan's latest version when some approved
    changes of that plan take effect after its start: the changes are replayed in the
    order they were approved, as they were on the subscriptions existing then (each
    switch, ``switch_at``, replaces the phases from it on). None when no change is still
    ahead of its start (the latest version applies from the start)."""
    if not any(s.effective_at > sub.start for s in schedule):
        return None
    ordered = sorted(schedule, key=_decided)
    key = sub.phases[0].plan.key
    phases = [Phase(PlanRef(key, ordered[0].from_version), sub.start)]
    for change in ordered:
        at = switch_at(replace(sub, phases=tuple(phases)), change.effective_at, change.timing)
        if at is None:
            continue
        kept = [p for p in phases if p.start < at]
        phases = [*kept, Phase(PlanRef(key, change.to_version), at if kept else sub.start)]
    return tuple(phases)


def _decided(change: ScheduledVersion) -> datetime:
    return change.decided_at
