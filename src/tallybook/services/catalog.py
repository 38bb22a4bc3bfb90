"""The catalog service: apply catalog documents, read meters and versioned plans.

``apply`` is additive: meters and plans absent from the document are kept. A meter whose
definition changes is updated in place; a plan whose content changes publishes a new
version (``n + 1``) and unchanged plans publish nothing, so applying the same document
twice changes nothing. Published versions are immutable, so parsed plans are cached in
memory by ``(tenant, key, version)``.

Usage charges may reference meters defined in the same document or already stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from threading import Lock
from typing import Any, Literal

from tallybook.documents.catalog.convert import to_domain
from tallybook.documents.catalog.document import (
    CatalogDocument,
    CatalogInvalid,
    CatalogIssue,
    catalog_section,
    catalog_to_document,
    parse_catalog,
)
from tallybook.documents.catalog.issues import format_location
from tallybook.documents.catalog.loading import read_text
from tallybook.domain.catalog.model import Catalog, Meter, Plan
from tallybook.domain.errors import NotFound
from tallybook.services.catalog_diff import (
    Action,
    CatalogDiff,
    ResourceChange,
    diff_documents,
)
from tallybook.services.ports import CatalogStore, CatalogUnitOfWork, Clock, PlanVersionRow

JsonDict = dict[str, Any]
_MAX_CACHED_METERS = 10_000


@dataclass(frozen=True, slots=True)
class PlanVersionInfo:
    key: str
    version: int
    created_at: datetime
    latest: bool


@dataclass
class _PlanCache:
    plans: dict[tuple[str, str, int], Plan] = field(default_factory=dict)
    meters: dict[str, Meter] = field(default_factory=dict)
    lock: Lock = field(default_factory=Lock)


# Called with (tenant, a thunk computing the dry-run diff) before a direct apply
# publishes anything; raises
# ``Conflict`` ``approval_required`` when the tenant requires approval of price changes
# (``services.governance.GovernanceService.check_direct``).
ApprovalGate = Callable[[str, Callable[[], "CatalogDiff"]], None]


class CatalogService:
    """Implements ``PlanReader`` (services.ports) on the catalog store."""

    def __init__(self, store: CatalogStore, clock: Clock):
        self._store = store
        self._clock = clock
        self._cache = _PlanCache()
        self.approval_gate: ApprovalGate | None = None

    # -- apply -----------------------------------------------------------------------

    def apply(
        self,
        tenant_id: str,
        catalog: Catalog | Mapping[str, Any],
        *,
        dry_run: bool = False,
        approved: bool = False,
    ) -> CatalogDiff:
        """Create or update the document's meters and publish changed plans. A direct
        apply (not ``approved`` by a catalog change) passes the approval gate first."""
        if not dry_run and not approved and self.approval_gate is not None:
            self.approval_gate(tenant_id, lambda: self.apply(tenant_id, catalog, dry_run=True))
        with self._store.transaction(tenant_id) as txn:
            stored_meters = txn.meter_documents()
            if isinstance(catalog, Catalog):
                _check_references(catalog, stored_meters)
                parsed = catalog
            else:
                parsed = parse_with_stored_meters(catalog, stored_meters)
            _check_text(parsed)
            now = self._clock.now()
            meter_changes = tuple(
                self._apply_meter(txn, meter, stored_meters, now, dry_run)
                for meter in parsed.meters
            )
            latest = txn.latest_plans()
            plan_changes = tuple(
                self._apply_plan(txn, plan, latest, now, dry_run) for plan in parsed.plans
            )
        return CatalogDiff(meter_changes, plan_changes, dry_run)

    def parse(self, tenant_id: str, document: Mapping[str, Any]) -> Catalog:
        """The document as domain values (its usage charges may use stored meters).
        Raises ``CatalogInvalid``."""
        with self._store.reads(tenant_id) as reads:
            stored = reads.meter_documents()
        parsed = parse_with_stored_meters(document, stored)
        _check_text(parsed)
        return parsed

    def apply_text(
        self, tenant_id: str, text: str, *, filename: str = "<input>", dry_run: bool = False
    ) -> CatalogDiff:
        """``apply`` a YAML or JSON document given as text."""
        data = read_text(text, filename)
        if not isinstance(data, Mapping):
            raise CatalogInvalid(
                [
                    CatalogIssue(
                        filename, "a catalog document must be a mapping with meters and plans"
                    )
                ]
            )
        return self.apply(tenant_id, data, dry_run=dry_run)

    def apply_resource(
        self, tenant_id: str, kind: Literal["meters", "plans"], body: Any, *, dry_run: bool = False
    ) -> ResourceChange:
        """Apply one meter or plan document (``POST /v1/meters``, ``POST /v1/plans``).

        Problems are reported at locations relative to the resource (``charges[0].meter``).
        """
        try:
            diff = self.apply(tenant_id, {kind: [body]}, dry_run=dry_run)
        except CatalogInvalid as exc:
            prefix = f"{kind}[0]"
            raise CatalogInvalid(
                CatalogIssue(_strip_prefix(i.location, prefix), i.message) for i in exc.issues
            ) from None
        return (diff.meters if kind == "meters" else diff.plans)[0]

    def _apply_meter(
        self,
        txn: CatalogUnitOfWork,
        meter: Meter,
        stored: Mapping[str, JsonDict],
        now: datetime,
        dry_run: bool,
    ) -> ResourceChange:
        new_doc = meter_document(meter)
        old_doc = stored.get(meter.key)
        if old_doc is not None and meter_from_document(old_doc) == meter:
            return ResourceChange("meter", meter.key, "unchanged")
        action: Action = "created" if old_doc is None else "updated"
        if not dry_run:
            txn.upsert_meter(meter.key, new_doc, now, exists=old_doc is not None)
        return ResourceChange("meter", meter.key, action, tuple(diff_documents(old_doc, new_doc)))

    def _apply_plan(
        self,
        txn: CatalogUnitOfWork,
        plan: Plan,
        latest: Mapping[str, PlanVersionRow],
        now: datetime,
        dry_run: bool,
    ) -> ResourceChange:
        new_doc = plan_document(plan)
        current = latest.get(plan.key)
        if current is None:
            if not dry_run:
                txn.publish_plan(plan.key, 1, new_doc, now)
            return ResourceChange(
                "plan", plan.key, "created", tuple(diff_documents(None, new_doc)), 1, None
            )
        old = plan_from_document(current.definition, current.version)
        if replace(old, version=1) == replace(plan, version=1):
            return ResourceChange("plan", plan.key, "unchanged", (), current.version, None)
        version = current.version + 1
        if not dry_run:
            txn.publish_plan(plan.key, version, new_doc, now)
        changes = tuple(diff_documents(current.definition, new_doc))
        return ResourceChange("plan", plan.key, "updated", changes, version, current.version)

    # -- reads (PlanReader) ----------------------------------------------------------

    def get_meter(self, tenant_id: str, key: str) -> Meter:
        document = self._store.meter_document(tenant_id, key)
        if document is None:
            raise NotFound(f"no meter {key!r}", code="meter_not_found", details={"meter": key})
        return self._meter(document)

    def list_meters(self, tenant_id: str) -> list[Meter]:
        with self._store.reads(tenant_id) as reads:
            documents = reads.meter_documents()
        return [self._meter(doc) for doc in documents.values()]

    def get_plan(self, tenant_id: str, key: str, version: int | None = None) -> Plan:
        if version is None:
            version = self._store.latest_version(tenant_id, key)
            if version is None:
                raise NotFound(f"no plan {key!r}", code="plan_not_found", details={"plan": key})
        cached = self._cache.plans.get((tenant_id, key, version))
        if cached is not None:
            return cached
        row = self._store.plan_version(tenant_id, key, version)
        if row is None:
            exists = self._store.latest_version(tenant_id, key) is not None
            raise NotFound(
                f"plan {key!r} has no version {version}",
                code="plan_version_not_found" if exists else "plan_not_found",
                details={"plan": key, "version": version},
            )
        return self._remember(tenant_id, plan_from_document(row.definition, version))

    def list_plans(self, tenant_id: str) -> list[Plan]:
        """The latest version of every plan, by key."""
        with self._store.reads(tenant_id) as reads:
            rows = reads.latest_plans()
        return [
            self._cache.plans.get((tenant_id, row.key, row.version))
            or self._remember(tenant_id, plan_from_document(row.definition, row.version))
            for row in rows.values()
        ]

    def plan_versions(self, tenant_id: str, key: str) -> list[PlanVersionInfo]:
        with self._store.reads(tenant_id) as reads:
            rows = reads.versions(key)
        if not rows:
            raise NotFound(f"no plan {key!r}", code="plan_not_found", details={"plan": key})
        newest = rows[-1].version
        return [PlanVersionInfo(key, r.version, r.created_at, r.version == newest) for r in rows]

    def catalog(self, tenant_id: str) -> Catalog:
        """Every meter and the latest version of every plan."""
        return Catalog(tuple(self.list_meters(tenant_id)), tuple(self.list_plans(tenant_id)))

    def _meter(self, document: JsonDict) -> Meter:
        """Parsed meters, cached by their definition (a changed meter is a new entry)."""
        text = json.dumps(document, sort_keys=True)
        meter = self._cache.meters.get(text)
        if meter is None:
            meter = meter_from_document(document)
            with self._cache.lock:
                if len(self._cache.meters) >= _MAX_CACHED_METERS:
                    self._cache.meters.clear()
                self._cache.meters[text] = meter
        return meter

    def _remember(self, tenant_id: str, plan: Plan) -> Plan:
        with self._cache.lock:
            self._cache.plans[(tenant_id, plan.key, plan.version)] = plan
        return plan


# -- documents <-> domain ----------------------------------------------------------------


def meter_document(meter: Meter) -> JsonDict:
    document: JsonDict = catalog_to_document(Catalog(meters=(meter,)))["meters"][0]
    return document


def plan_document(plan: Plan) -> JsonDict:
    document: JsonDict = catalog_to_document(Catalog(plans=(plan,)))["plans"][0]
    return document


def meter_from_document(document: Mapping[str, Any]) -> Meter:
    return to_domain(CatalogDocument.model_validate({"meters": [document]})).meters[0]


def plan_from_document(document: Mapping[str, Any], version: int) -> Plan:
    """A stored plan version (its dimension is resolved, so no meters are needed)."""
    plan = to_domain(CatalogDocument.model_validate({"plans": [document]})).plans[0]
    return replace(plan, version=version)


def parse_with_stored_meters(data: Mapping[str, Any], stored: Mapping[str, JsonDict]) -> Catalog:
    """Parse ``data``; its usage charges may also reference the ``stored`` meters.

    The stored meters the document does not redefine are appended to its meter list for
    validation only (after the document's own, so reported locations are unchanged) and
    left out of the result.
    """
    section, prefix = catalog_section(data)
    if not isinstance(section, Mapping) or not isinstance(section.get("meters", []), list):
        return parse_catalog(data)
    own = list(section.get("meters") or [])
    own_keys = {m.get("key") for m in own if isinstance(m, Mapping)}
    extra = [doc for key, doc in stored.items() if key not in own_keys]
    augmented: dict[str, Any] = {**section, "meters": own + extra}
    full = parse_catalog({**data, "catalog": augmented} if prefix else augmented)
    return Catalog(full.meters[: len(own)], full.plans)


def _check_references(catalog: Catalog, stored: Mapping[str, JsonDict]) -> None:
    known = {m.key for m in catalog.meters} | set(stored)
    issues = [
        CatalogIssue(
            format_location(("plans", p, "charges", c, "meter")),
            f"unknown meter {charge.meter!r} (not in the document nor stored)",
        )
        for p, plan in enumerate(catalog.plans)
        for c, charge in enumerate(plan.usage_charges)
        if charge.meter not in known
    ]
    issues += [
        CatalogIssue(
            format_location(("plans", p, "features", f, "meter")),
            f"unknown meter {feature.meter!r} (not in the document nor stored)",
        )
        for p, plan in enumerate(catalog.plans)
        for f, feature in enumerate(plan.features)
        if feature.meter is not None and feature.meter not in known
    ]
    if issues:
        raise CatalogInvalid(issues)


def _check_text(catalog: Catalog) -> None:
    """NUL characters cannot be stored (PostgreSQL text and JSONB refuse them)."""
    documents = [("meters", i, meter_document(m)) for i, m in enumerate(catalog.meters)]
    documents += [("plans", i, plan_document(p)) for i, p in enumerate(catalog.plans)]
    issues = [
        CatalogIssue(format_location((kind, index, *path)), "text must not contain NUL characters")
        for kind, index, document in documents
        for path in _nul_paths(document)
    ]
    if issues:
        raise CatalogInvalid(issues)


def _nul_paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, Mapping):
        found = [path] if any("\x00" in str(k) for k in value) else []
        for k, v in value.items():
            found += _nul_paths(v, (*path, str(k)))
        return found
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, (*path, i))]
    return []


def _strip_prefix(location: str, prefix: str) -> str:
    if location == prefix:
        return ""
    return location[len(prefix) + 1 :] if location.startswith(prefix + ".") else location
