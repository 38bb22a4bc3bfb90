"""Governed pricing: catalog changes proposed, checked, approved by a second key,
published and rolled out to existing subscriptions; rollbacks; the approval gate of
direct catalog edits (CONTRACT.md, governance).

- ``propose``: the document is validated as a catalog (``422 invalid_catalog``), must
  change something (``422 change_empty``) and may add meters but not redefine stored
  ones (``422 meter_change_not_governed``: meters are not versioned). Checks: the
  validation and the tenant's guard rails (``domain.governance.changes``). ``impact``
  re-rates the last closed period of every subscription on a changed plan under the
  change (``services.impact``). ``effective_at`` inside a finalized period of an
  affected subscription is ``409 effective_in_billed_period``.
- ``approve``: another key than the author's (``403 approval_self_forbidden``), a
  ``pending_approval`` change (``409 change_not_pending``; of two racing approvers one
  wins), passing checks (``409 checks_failed``), the billed-period check again. Then the
  plans are published as new versions and, with ``existing: migrate``, every
  subscription on an older version switches (``next_period``: at its first period start
  at or after ``effective_at`` in its time zone; ``immediate``: at ``effective_at``,
  splitting the period like a plan change). ``grandfather`` leaves them on their version.
  A ``catalog.change_approved`` webhook reports it.
- ``rollback``: a new change whose plan content equals an earlier version.
- ``check_direct``: with ``require_approval``, a direct apply that moves a price is
  ``409 approval_required``.

New subscriptions follow the schedule (``plan_schedule``, read by
``SubscriptionService.create``): one starting before an approved change's
``effective_at`` starts on the version it replaces and switches with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tallybook.documents.catalog.document import catalog_to_document
from tallybook.domain.catalog.model import Catalog
from tallybook.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TallybookError,
    ValidationError,
)
from tallybook.domain.governance.changes import (
    ApprovedChange,
    ChangeStatus,
    ChangeTiming,
    Check,
    Existing,
    GuardRails,
    PriceMove,
    ScheduledVersion,
    guard_rail_checks,
    price_moves,
    shown_status,
    switch_at,
)
from tallybook.domain.ids import new_id_at
from tallybook.domain.notifications import change_approved_message
from tallybook.domain.subscriptions.model import AllowancePolicy, FeeProration
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.catalog import CatalogService, plan_document
from tallybook.services.catalog_diff import CatalogDiff
from tallybook.services.impact import ImpactService
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import AnalyticsStore, ChangeRow, Clock, GovernanceStore
from tallybook.services.subscriptions import SubscriptionService

MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the API key's id and name (the CLI passes its own)."""

    key_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """A catalog change as proposed (``POST /v1/catalog/changes``)."""

    document: Mapping[str, Any]
    effective_at: datetime
    timing: ChangeTiming = ChangeTiming.NEXT_PERIOD
    existing: Existing = Existing.MIGRATE
    reason: str | None = None
    id: str | None = None  # client id: a repeat with the same body returns the change


@dataclass(frozen=True, slots=True)
class ChangeView:
    """A stored change with the status it shows now."""

    row: ChangeRow
    status: ChangeStatus


@dataclass(frozen=True, slots=True)
class Assessment:
    """A proposal as checked before it is stored (``GovernanceService.preview``):
    ``document`` normalised, ``diff`` and ``checks`` as JSON, ``impact`` (None when not
    asked for), ``at`` the instant it was assessed."""

    document: dict[str, Any]
    diff: dict[str, Any]
    checks: list[dict[str, Any]]
    impact: dict[str, Any] | None
    at: datetime


class GovernanceService:
    """Catalog changes, rollbacks, guard rails and the direct-edit gate."""

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

    # -- settings ---------------------------------------------------------------------

    def guard_rails(self, tenant_id: str) -> GuardRails:
        return self._store.guard_rails(tenant_id)

    def set_guard_rails(self, tenant_id: str, rails: GuardRails) -> GuardRails:
        """Store the tenant's governance settings. Raises ``invalid_guard_rail`` for a
        negative percentage or notice."""
        for name in ("max_increase_pct", "max_decrease_pct", "min_notice_days"):
            value = getattr(rails, name)
            if value is not None and value < 0:
                raise ValidationError(f"{name} must not be negative", code="invalid_guard_rail")
        self._store.put_guard_rails(tenant_id, rails, self._clock.now())
        return self._store.guard_rails(tenant_id)

    def check_direct(self, tenant_id: str, diff: Callable[[], CatalogDiff]) -> None:
        """The approval gate of direct catalog edits (``CatalogService.approval_gate``);
        ``diff`` computes the edit's dry-run diff (only when approval is required)."""
        if not self._store.guard_rails(tenant_id).require_approval:
            return
        moves = _moves(diff())
        if moves:
            raise Conflict(
                "this tenant requires approval of price changes: propose them with "
                "POST /v1/catalog/changes",
                code="approval_required",
                details={"prices": [m.path for m in moves[:50]]},
            )

    # -- reads ------------------------------------------------------------------------

    def get(self, tenant_id: str, change_id: str) -> ChangeView:
        row = self._store.get_change(tenant_id, change_id)
        if row is None:
            raise NotFound(
                f"no catalog change {change_id!r}",
                code="change_not_found",
                details={"change": change_id[:64]},
            )
        return self._view(tenant_id, [row])[0]

    def list_changes(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[ChangeView]:
        after = decode_cursor(cursor, (str,))
        stored = None if status in (None, "active", "superseded", "approved") else status
        rows = self._store.page_changes(
            tenant_id,
            status=stored,
            after=None if after is None else str(after[0]),
            limit=check_limit(limit) + 1,
        )
        views = self._view(tenant_id, rows)
        page = page_of(views, limit, lambda v: [v.row.id])
        if status in ("active", "superseded", "approved"):
            page = Page([v for v in page.items if v.status == status], page.next_cursor)
        return page

    def _view(self, tenant_id: str, rows: list[ChangeRow]) -> list[ChangeView]:
        now = self._clock.now()
        approved = [_approved(r) for r in self._store.approved_changes(tenant_id)]
        return [
            ChangeView(
                row,
                shown_status(ChangeStatus(row.status), _approved(row), approved, now)
                if row.status == ChangeStatus.APPROVED
                else ChangeStatus(row.status),
            )
            for row in rows
        ]

    def plan_schedule(self, tenant_id: str, plan_key: str) -> list[ScheduledVersion]:
        """The approved changes of ``plan_key`` that published a new version over an
        older one, by ``effective_at`` (``SubscriptionService.plan_schedule``)."""
        found = []
        for row in self._store.approved_changes(tenant_id):
            entry = (row.versions or {}).get(plan_key)
            if entry is None or entry.get("from") is None:
                continue
            found.append(
                ScheduledVersion(
                    row.effective_at,
                    ChangeTiming(row.timing),
                    int(entry["from"]),
                    int(entry["to"]),
                    row.decided_at or row.created_at,
                )
            )
        return found

    # -- propose ----------------------------------------------------------------------

    def propose(
        self, tenant_id: str, actor: Actor, proposal: Proposal, *, kind: str = "change"
    ) -> ChangeView:
        """Check and store a change awaiting approval (see the module docstring)."""
        _check_reason(proposal.reason)
        if proposal.id is not None:
            repeat = self._repeat(tenant_id, proposal)
            if repeat is not None:
                return repeat
        assessed = self.preview(tenant_id, proposal)
        row = ChangeRow(
            id=proposal.id or new_id_at("chg", assessed.at),
            kind=kind,
            status=ChangeStatus.PENDING.value,
            author_key=actor.key_id,
            author=actor.name,
            document=assessed.document,
            effective_at=proposal.effective_at,
            timing=proposal.timing.value,
            existing=proposal.existing.value,
            reason=proposal.reason,
            diff=assessed.diff,
            checks=assessed.checks,
            impact=assessed.impact or {},
            created_at=assessed.at,
        )
        self._store.insert_change(tenant_id, row)
        return ChangeView(row, ChangeStatus.PENDING)

    def preview(
        self, tenant_id: str, proposal: Proposal, *, with_impact: bool = True
    ) -> Assessment:
        """What ``propose`` would store, without storing it: the normalised document, the
        diff, the checks and (unless ``with_impact`` is false: it re-rates a period of
        every affected subscription) the impact. The console's change editor shows it
        before submitting. Raises as ``propose`` does: ``invalid_catalog``,
        ``change_empty``, ``meter_change_not_governed``, ``effective_in_billed_period``."""
        document = dict(proposal.document)
        diff = self._catalog.apply(tenant_id, document, dry_run=True)
        if not diff.changed:
            raise ValidationError(
                "the document changes nothing in the catalog", code="change_empty"
            )
        redefined = [m.key for m in diff.meters if m.action == "updated"]
        if redefined:
            raise ValidationError(
                "meters are not versioned: change them with PUT /v1/catalog, not a catalog change",
                code="meter_change_not_governed",
                details={"meters": redefined},
            )
        parsed = self._catalog.parse(tenant_id, document)
        keys = _changed_plans(diff)
        now = self._clock.now()
        if proposal.existing is Existing.MIGRATE:
            self._check_billed(tenant_id, keys, proposal.effective_at)
        rails = self._store.guard_rails(tenant_id)
        checks = [Check("validation", True, "the document is a valid catalog")]
        checks += guard_rail_checks(_moves(diff), rails, proposal.effective_at, now)
        plans = {p.key: p for p in parsed.plans if p.key in keys}
        return Assessment(
            document=catalog_to_document(Catalog(parsed.meters, parsed.plans)),
            diff=diff.to_dict() | {"dry_run": False},
            checks=[c.to_dict() for c in checks],
            impact=self._impact.impact(tenant_id, plans) if with_impact else None,
            at=now,
        )

    def _repeat(self, tenant_id: str, proposal: Proposal) -> ChangeView | None:
        assert proposal.id is not None
        found = self._store.get_change(tenant_id, proposal.id)
        if found is None:
            return None
        parsed = self._catalog.parse(tenant_id, dict(proposal.document))
        same = (
            found.document == catalog_to_document(Catalog(parsed.meters, parsed.plans))
            and found.effective_at == proposal.effective_at
            and found.timing == proposal.timing.value
            and found.existing == proposal.existing.value
            and found.reason == proposal.reason
        )
        if not same:
            raise Conflict(
                f"catalog change {proposal.id!r} exists with another body",
                code="conflict",
                details={"change": proposal.id},
            )
        return self._view(tenant_id, [found])[0]

    def rollback(
        self, tenant_id: str, actor: Actor, plan_key: str, to_version: int, proposal: Proposal
    ) -> ChangeView:
        """A change whose plan content equals ``plan_key`` version ``to_version``."""
        plan = self._catalog.get_plan(tenant_id, plan_key, to_version)
        document = {"plans": [plan_document(plan)]}
        return self.propose(tenant_id, actor, replace(proposal, document=document), kind="rollback")

    # -- decide -----------------------------------------------------------------------

    def approve(
        self, tenant_id: str, change_id: str, actor: Actor, reason: str | None = None
    ) -> ChangeView:
        """Approve, publish and roll out a pending change (see the module docstring)."""
        _check_reason(reason)
        view = self.get(tenant_id, change_id)
        row = view.row
        if actor.key_id == row.author_key:
            raise Forbidden(
                "a change must be approved by another key than its author's",
                code="approval_self_forbidden",
                details={"change": row.id, "author": row.author},
            )
        _check_pending(view)
        failed = [c["name"] for c in row.checks if not c.get("ok")]
        if failed:
            raise Conflict(
                "the change fails its checks: " + ", ".join(failed),
                code="checks_failed",
                details={"checks": failed},
            )
        keys = _plans_of(row)
        if row.existing == Existing.MIGRATE:
            self._check_billed(tenant_id, keys, row.effective_at)
        now = self._clock.now()
        decided = self._store.decide(
            tenant_id,
            row.id,
            ChangeStatus.APPROVED.value,
            key=actor.key_id,
            by=actor.name,
            at=now,
            reason=reason,
        )
        if not decided:
            _check_pending(self.get(tenant_id, change_id))  # lost the race: say why
            raise Conflict("the change was decided meanwhile", code="change_not_pending")
        try:
            versions = self._publish(tenant_id, row)
        except BaseException:
            self._store.reopen(tenant_id, row.id)
            raise
        message = change_approved_message(
            change_id=row.id,
            kind=row.kind,
            versions=versions,
            effective_at=row.effective_at,
            timing=row.timing,
            existing=row.existing,
            author=row.author,
            approved_by=actor.name,
            at=now,
        )
        self._store.set_versions(tenant_id, row.id, versions, now, [message])
        return self.get(tenant_id, change_id)

    def reject(
        self, tenant_id: str, change_id: str, actor: Actor, reason: str | None = None
    ) -> ChangeView:
        """Reject a pending change (its author may withdraw it too)."""
        _check_reason(reason)
        _check_pending(self.get(tenant_id, change_id))
        decided = self._store.decide(
            tenant_id,
            change_id,
            ChangeStatus.REJECTED.value,
            key=actor.key_id,
            by=actor.name,
            at=self._clock.now(),
            reason=reason,
        )
        if not decided:
            _check_pending(self.get(tenant_id, change_id))
        return self.get(tenant_id, change_id)

    # -- publishing and rollout -------------------------------------------------------

    def _publish(self, tenant_id: str, row: ChangeRow) -> dict[str, Any]:
        diff = self._catalog.apply(tenant_id, row.document, approved=True)
        versions: dict[str, Any] = {}
        for change in diff.plans:
            if change.version is None:
                continue
            versions[change.key] = {
                "from": change.previous_version,
                "to": change.version,
                "migrated": 0,
                "skipped": [],
            }
        if row.existing == Existing.MIGRATE:
            self._migrate(tenant_id, row, versions)
        return versions

    def _migrate(self, tenant_id: str, row: ChangeRow, versions: dict[str, Any]) -> None:
        timing = ChangeTiming(row.timing)
        for stored in self._on_plans(tenant_id, set(versions)):
            sub = stored.subscription
            at = switch_at(sub, row.effective_at, timing)
            key = sub.phase_at(at or row.effective_at).plan.key
            entry = versions.get(key)
            if entry is None:
                continue
            target = int(entry["to"])
            problem = _skip_reason(stored, at, target)
            if problem is None and at is not None:
                try:
                    self._subscriptions.change_plan(
                        tenant_id,
                        sub.id,
                        key,
                        at=at,
                        version=target,
                        allowance_policy=AllowancePolicy.PRORATE,
                        fee_proration=FeeProration.PRORATE,
                    )
                    entry["migrated"] += 1
                    continue
                except TallybookError as exc:
                    problem = exc.code
            if problem != "already_on_version" and len(entry["skipped"]) < 1000:
                entry["skipped"].append({"subscription": sub.id, "reason": problem})

    def _on_plans(self, tenant_id: str, keys: Set[str]) -> list[StoredSubscription]:
        """Subscriptions with a phase on one of ``keys``."""
        found = []
        for chunk in self._analytics.subscription_chunks(tenant_id, size=1000):
            for stored in chunk:
                if any(p.plan.key in keys for p in stored.subscription.phases):
                    found.append(stored)
        return found

    def _check_billed(self, tenant_id: str, keys: Set[str], effective_at: datetime) -> None:
        """409 ``effective_in_billed_period`` when a finalized invoice of a subscription
        on one of ``keys`` covers time after ``effective_at``."""
        for stored in self._on_plans(tenant_id, keys):
            sub = stored.subscription
            if sub.end is not None and sub.end <= effective_at:
                continue
            if sub.phase_at(max(effective_at, sub.start)).plan.key not in keys:
                continue
            through = stored.billed_through
            if through is not None and through > effective_at:
                raise Conflict(
                    f"a finalized invoice of subscription {sub.id} covers time up to "
                    f"{through.isoformat()}, after effective_at",
                    code="effective_in_billed_period",
                    details={"subscription": sub.id, "billed_through": through.isoformat()},
                )


def _skip_reason(stored: StoredSubscription, at: datetime | None, target: int) -> str | None:
    sub = stored.subscription
    if at is None:
        return "subscription_ended"
    if sub.phase_at(at).plan.version >= target:
        return "already_on_version"
    if at <= sub.start:
        return "starts_at_or_after_change"
    key = sub.phase_at(at).plan.key
    if any(p.start > at and p.plan.key != key for p in sub.phases):
        return "later_plan_change_scheduled"  # to another plan: left to its owner
    return None


def _check_pending(view: ChangeView) -> None:
    if view.status is not ChangeStatus.PENDING:
        raise Conflict(
            f"the change is {view.status.value}, not pending_approval",
            code="change_not_pending",
            details={"change": view.row.id, "status": view.status.value},
        )


def _check_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > MAX_REASON:
        raise ValidationError(
            f"reason must be at most {MAX_REASON} characters", code="invalid_reason"
        )


def _changed_plans(diff: CatalogDiff) -> set[str]:
    return {p.key for p in diff.plans if p.action != "unchanged"}


def _moves(diff: CatalogDiff) -> list[PriceMove]:
    moves: list[PriceMove] = []
    for plan in diff.plans:
        if plan.action != "updated":
            continue
        for change in plan.changes:
            moves += price_moves(f"plans[{plan.key}].{change.path}", change.old, change.new)
    return moves


def _plans_of(row: ChangeRow) -> frozenset[str]:
    """The plans a change changes (those its diff shows created or updated)."""
    return frozenset(p["key"] for p in row.diff.get("plans", []) if p.get("action") != "unchanged")


def _approved(row: ChangeRow) -> ApprovedChange:
    plans = frozenset(row.versions or {}) or _plans_of(row)
    return ApprovedChange(row.id, plans, row.effective_at, row.decided_at or row.created_at)
