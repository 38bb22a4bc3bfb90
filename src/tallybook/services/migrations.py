"""Bulk migration of a plan's subscribers from one version to another, with a preview
per customer of what they would have paid on the new version over their last closed
periods (seed 004: "show what they would have paid under the new structure before
switching them").

``migrate`` previews always; with ``dry_run=False`` it also switches every subscription
on ``from_version`` (``timing`` as for catalog changes: ``next_period`` or
``immediate``), one plan change each, and reports the ones it skipped and why. With the
tenant's ``require_approval`` on, switching is ``409 approval_required`` (a change of
prices for those customers): propose a catalog change or rollback with ``existing:
migrate`` instead; the preview stays available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tallybook.domain.errors import Conflict, TallybookError, ValidationError
from tallybook.domain.governance.changes import ChangeTiming, switch_at
from tallybook.domain.subscriptions.model import AllowancePolicy, FeeProration
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.catalog import CatalogService
from tallybook.services.impact import ImpactService
from tallybook.services.ports import AnalyticsStore, Clock, GovernanceStore
from tallybook.services.subscriptions import SubscriptionService

MAX_PERIODS = 12
MAX_SKIPPED = 1000


@dataclass(frozen=True, slots=True)
class MigrationRequest:
    plan: str
    from_version: int
    to_version: int
    effective_at: datetime | None = None  # default: now
    timing: ChangeTiming = ChangeTiming.NEXT_PERIOD
    customers: Sequence[str] | None = None
    periods: int = 3
    dry_run: bool = True


class MigrationService:
    """Preview and run bulk version migrations."""

    def __init__(
        self,
        store: GovernanceStore,
        catalog: CatalogService,
        subscriptions: SubscriptionService,
        analytics: AnalyticsStore,
        impact: ImpactService,
        clock: Clock,
    ):
        self._store = store
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._analytics = analytics
        self._impact = impact
        self._clock = clock

    def migrate(self, tenant_id: str, request: MigrationRequest) -> dict[str, Any]:
        """The preview (``per_customer``) and, unless ``dry_run``, the switch."""
        if not 1 <= request.periods <= MAX_PERIODS:
            raise ValidationError(f"periods must be 1-{MAX_PERIODS}", code="invalid_periods")
        if request.from_version == request.to_version:
            raise ValidationError(
                "from_version and to_version are the same", code="invalid_versions"
            )
        self._catalog.get_plan(tenant_id, request.plan, request.from_version)  # 404s
        target = self._catalog.get_plan(tenant_id, request.plan, request.to_version)
        when = request.effective_at or self._clock.now()
        movers = self._movers(tenant_id, request, when)
        customers = sorted({s.subscription.customer for s in movers})
        preview = self._impact.impact(
            tenant_id,
            {request.plan: target},
            per_customer=True,
            customers=customers,
            periods=request.periods,
        )
        answer: dict[str, Any] = {
            "plan": request.plan,
            "from_version": request.from_version,
            "to_version": request.to_version,
            "effective_at": when.isoformat().replace("+00:00", "Z"),
            "timing": request.timing.value,
            "dry_run": request.dry_run,
            "subscriptions": len(movers),
            "preview": preview,
            "migrated": 0,
            "skipped": [],
        }
        if request.dry_run:
            return answer
        if self._store.guard_rails(tenant_id).require_approval:
            raise Conflict(
                "this tenant requires approval of price changes: migrate through a catalog "
                "change or rollback with existing: migrate",
                code="approval_required",
            )
        for stored in movers:
            sub = stored.subscription
            at = switch_at(sub, when, request.timing)
            try:
                if at is None or at <= sub.start:
                    raise Conflict("no time left to switch", code="subscription_ended")
                self._subscriptions.change_plan(
                    tenant_id,
                    sub.id,
                    request.plan,
                    at=at,
                    version=request.to_version,
                    allowance_policy=AllowancePolicy.PRORATE,
                    fee_proration=FeeProration.PRORATE,
                )
                answer["migrated"] += 1
            except TallybookError as exc:
                if len(answer["skipped"]) < MAX_SKIPPED:
                    answer["skipped"].append({"subscription": sub.id, "reason": exc.code})
        return answer

    def _movers(
        self, tenant_id: str, request: MigrationRequest, when: datetime
    ) -> list[StoredSubscription]:
        """Subscriptions on ``from_version`` at their switch time (not ended by then)."""
        wanted = None if request.customers is None else set(request.customers)
        found = []
        for chunk in self._analytics.subscription_chunks(
            tenant_id, size=1000, customers=None if wanted is None else sorted(wanted)
        ):
            for stored in chunk:
                sub = stored.subscription
                at = switch_at(sub, when, request.timing)
                if at is None:
                    continue
                ref = sub.phase_at(at).plan
                if (ref.key, ref.version) == (request.plan, request.from_version):
                    found.append(stored)
        return found
