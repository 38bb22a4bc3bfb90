"""The change editor: propose a catalog change from the console (role ``pricing_editor``).

A form for the common edits (a charge's unit price, flat fee, included allowance or tiers)
writes the plan's YAML; the YAML textarea takes any other edit. While the user types,
htmx posts the form to ``/console/catalog/changes/validate``, which answers the located
catalog errors of ``PUT /v1/catalog`` (``invalid_catalog`` issues) or the diff and the
checks (``GovernanceService.preview`` without the impact); "Preview impact" adds the
impact (it re-rates the last closed period of every affected subscription). "Propose
change" stores the change (``GovernanceService.propose``) for another key to approve.
Without script the same buttons post whole pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, web
from tallybook.documents.catalog.issues import CatalogInvalid, CatalogIssue
from tallybook.documents.catalog.loading import read_text
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.domain.governance.changes import ChangeTiming, Existing
from tallybook.domain.periods import parse_instant
from tallybook.services.catalog import plan_document
from tallybook.services.governance import Assessment, Proposal

router = APIRouter(prefix="/console", include_in_schema=False)
MAX_DOCUMENT_CHARS = 65_536
# the common edits: field -> (label, the charge types it applies to)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unit_amount": ("Unit price", ("usage", "flat")),
    "amount": ("Flat fee", ("flat",)),
    "included": ("Included allowance", ("usage",)),
    "tiers": (
        "Tiers (one per line: up_to unit_amount [flat_amount]; up_to inf for the last)",
        ("usage",),
    ),
}
Key = Annotated[str | None, Query(max_length=255)]
TIERED = ("graduated", "volume")


@dataclass(frozen=True, slots=True)
class Draft:
    """The editor's fields as posted (text, as typed)."""

    document: str
    effective_at: str
    timing: str
    existing: str
    reason: str

    @classmethod
    def of(cls, fields: dict[str, str]) -> Draft:
        return cls(
            fields.get("document", ""),
            fields.get("effective_at", "").strip(),
            fields.get("timing", "next_period"),
            fields.get("existing", "migrate"),
            fields.get("reason", "").strip(),
        )

    def proposal(self) -> Proposal:
        """The draft as a ``Proposal``. Raises ``ValidationError`` (bad timing, instant,
        reason) or ``CatalogInvalid`` (unreadable YAML or JSON, not a mapping)."""
        if len(self.document) > MAX_DOCUMENT_CHARS:
            raise ValidationError("the document is too long", code="too_long")
        if self.timing not in ("next_period", "immediate"):
            raise ValidationError("timing must be next_period or immediate", code="invalid_timing")
        if self.existing not in ("migrate", "grandfather"):
            raise ValidationError(
                "existing must be migrate or grandfather", code="invalid_existing"
            )
        data = read_text(self.document, "document", allow_aliases=False)
        if not isinstance(data, dict):
            raise CatalogInvalid(
                [CatalogIssue("document", "a catalog document is a mapping with meters and plans")]
            )
        return Proposal(
            document=data,
            effective_at=parse_instant(self.effective_at),
            timing=ChangeTiming(self.timing),
            existing=Existing(self.existing),
            reason=self.reason or None,
        )


def next_month(now: datetime) -> str:
    """The first instant of the next calendar month (UTC), the default ``effective_at``."""
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tiers_of(text: str) -> list[dict[str, str | None]]:
    """Tier lines ``up_to unit_amount [flat_amount]`` (``inf`` for no upper bound) as
    document tiers; values stay text (the catalog validation reports bad ones)."""
    tiers: list[dict[str, str | None]] = []
    for line in text.replace(";", "\n").splitlines():
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        tier: dict[str, str | None] = {"up_to": None if parts[0].lower() == "inf" else parts[0]}
        if len(parts) > 1:
            tier["unit_amount"] = parts[1]
        if len(parts) > 2:
            tier["flat_amount"] = parts[2]
        tiers.append(tier)
    return tiers


def edited_document(plan: dict[str, Any], charge: str, field: str, value: str) -> dict[str, Any]:
    """``plan`` (a plan document) with one common edit of charge ``charge``; the value is
    kept as typed (a number as a decimal string) for the catalog validation to judge.
    Tiers turn a per-unit charge into a graduated one (its ``unit_amount`` dropped).
    Raises ``ValidationError`` for an unknown charge or field."""
    if field not in FIELDS:
        raise ValidationError(f"field must be one of {', '.join(FIELDS)}", code="invalid_field")
    for item in plan.get("charges", []):
        if item.get("key") == charge:
            if field == "tiers":  # tiers make a tiered charge (graduated unless volume)
                item["tiers"] = tiers_of(value)
                if item.get("model") not in TIERED:
                    item["model"] = "graduated"
                    item.pop("unit_amount", None)
            else:
                item[field] = _number_text(value)
            return plan
    raise ValidationError(f"the plan has no charge {charge!r}", code="charge_not_in_plan")


def _number_text(value: str) -> str:
    text = value.strip()
    try:
        return f"{Decimal(text):f}" if text else text
    except InvalidOperation:
        return text


def as_yaml(document: dict[str, Any]) -> str:
    """A catalog document as YAML (decimals are strings in documents: quoted)."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def assess(
    container: Container, who: web.Operator, draft: Draft, *, with_impact: bool
) -> dict[str, Any]:
    """The validation result of a draft for the page: ``issues`` (located catalog errors)
    or ``error`` (another problem, with its ``code``) or ``assessment``."""
    try:
        proposal = draft.proposal()
        found: Assessment = container.governance.preview(
            who.tenant_id, proposal, with_impact=with_impact
        )
    except CatalogInvalid as invalid:
        return {"issues": invalid.issues, "status": 422}
    except TallybookError as error:
        return {"error": error.message, "code": error.code, "status": status_for(error)}
    return {"assessment": found, "status": 200}


def editor(
    request: Request,
    container: Container,
    who: web.Operator,
    draft: Draft,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    """The editor page with the draft's fields."""
    plans = container.catalog.list_plans(who.tenant_id)
    return web.render(
        "change_new.html",
        request=request,
        container=container,
        who=who,
        active="catalog",
        status=status,
        draft=draft,
        plans=plans,
        fields=FIELDS,
        **context,
    )


@router.get("/catalog/changes/new")
def new_change(
    request: Request,
    container: ContainerDep,
    plan: Key = None,
    charge: Key = None,
    field: Annotated[str | None, Query(max_length=32)] = None,
    value: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """The editor, for ``plan`` (its latest version as YAML), with the common edit
    ``charge``/``field``/``value`` applied when given, and then validated at once (the plan
    opened without an edit is not: it would only show ``change_empty``)."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    now = container.clock.now()
    draft = Draft("", next_month(now), "next_period", "migrate", "")
    chosen = None
    try:
        if plan:
            chosen = container.catalog.get_plan(who.tenant_id, plan)
            document = plan_document(chosen)
            if charge and field and value is not None:
                document = edited_document(document, charge, field, value)
            draft = Draft(
                as_yaml({"plans": [document]}), draft.effective_at, "next_period", "migrate", ""
            )
    except TallybookError as error:
        return editor(
            request, container, who, draft, status=status_for(error), error=error.message,
            plan=plan or "",
        )  # fmt: skip
    # the plan as published, not edited yet, would only be "change_empty": assess edits
    edited = bool(draft.document) and value is not None
    result = assess(container, who, draft, with_impact=False) if edited else {}
    return editor(
        request,
        container,
        who,
        draft,
        plan=plan or "",
        chosen=chosen,
        charge=charge or "",
        field=field or "",
        value=value or "",
        result=result,
    )


@router.post("/catalog/changes/validate")
async def validate(request: Request, container: ContainerDep) -> Response:
    """htmx: the located errors, or the diff and checks, of the posted draft (a fragment)."""
    return await _checked(request, container, with_impact=False)


@router.post("/catalog/changes/preview")
async def preview(request: Request, container: ContainerDep) -> Response:
    """The draft's diff, checks and impact (a fragment for htmx, else the editor page)."""
    return await _checked(request, container, with_impact=True)


async def _checked(request: Request, container: Container, *, with_impact: bool) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request, max_bytes=MAX_DOCUMENT_CHARS * 2)
    if fields is None:
        return web.forbidden(request, container, who)
    draft = Draft.of(fields)
    result = assess(container, who, draft, with_impact=with_impact)
    if request.headers.get("HX-Request") == "true":
        return web.render(
            "_validation.html", request=request, container=container, who=who, result=result
        )  # 200: htmx swaps only successful answers; the fragment says what is wrong
    return editor(request, container, who, draft, status=result["status"], result=result)


@router.post("/catalog/changes")
async def propose(request: Request, container: ContainerDep) -> Response:
    """Store the draft as a change awaiting approval; to the change's page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request, max_bytes=MAX_DOCUMENT_CHARS * 2)
    if fields is None:
        return web.forbidden(request, container, who)
    draft = Draft.of(fields)
    try:
        view = container.governance.propose(who.tenant_id, auditing.actor(who), draft.proposal())
    except TallybookError as error:
        result = assess(container, who, draft, with_impact=False)
        return editor(
            request, container, who, draft, status=status_for(error), result=result,
            error=error.message,
        )  # fmt: skip
    auditing.record(container, who, "propose", view, view.row.reason)
    return RedirectResponse(f"/console/approvals/{view.row.id}?proposed=1", status_code=303)
