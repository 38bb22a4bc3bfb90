"""CLI commands for governed pricing: ``tallybook changes propose | list | show | approve |
reject`` and ``tallybook audit verify``. Registered on the main app by ``tallybook.cli``.

A catalog change needs two people, so these commands act as an API key: ``--key`` (or
``TALLYBOOK_KEY``) names the actor and its tenant, and the key's roles are checked with
the API's own table (``api.access``), as if the matching HTTP route were called. Each
command is audited with the key's name as the actor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tallybook.cli_support import container as wired

if TYPE_CHECKING:
    from tallybook.bootstrap import Container
    from tallybook.domain.errors import TallybookError
    from tallybook.services.governance import Actor, ChangeView

changes_app = typer.Typer(help="Propose, review and decide catalog changes.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

KeyOption = Annotated[
    str,
    typer.Option(
        "--key", envvar="TALLYBOOK_KEY", help="The API key you act as (its name is the actor)."
    ),
]


def _fail(exc: TallybookError) -> NoReturn:
    err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
    raise typer.Exit(1)


def _as(container: Container, key: str, method: str, route: str) -> tuple[str, Actor]:
    """The key's tenant and actor; ``forbidden`` unless its roles allow ``method route``."""
    from tallybook.api.access import ADMIN, allowed_roles
    from tallybook.domain.errors import Forbidden
    from tallybook.services.governance import Actor

    identity = container.tenants.identify(key)
    allowed = allowed_roles(method, route) or frozenset()
    if ADMIN not in identity.roles and not allowed & set(identity.roles):
        raise Forbidden(
            f"the key's roles ({', '.join(identity.roles)}) do not allow this",
            details={"allowed": sorted({ADMIN, *allowed})},
        )
    return identity.tenant_id, Actor(identity.key_id, identity.name)


def _record(
    container: Container,
    tenant: str,
    actor: Actor,
    action: str,
    view: ChangeView,
    reason: str | None,
) -> None:
    from tallybook.domain.governance.audit import AuditRecord

    after = {"id": view.row.id, "status": view.status.value, "versions": view.row.versions}
    container.audit.record(
        tenant,
        AuditRecord(
            actor.name, actor.key_id, action, f"catalog/changes/{view.row.id}", None, after, reason
        ),
    )


def _show(view: ChangeView) -> None:
    row = view.row
    console.print(
        f"[bold]{row.id}[/] {view.status.value} ({row.kind}) by {row.author}, effective "
        f"{row.effective_at.isoformat()} {row.timing}, existing {row.existing}"
    )
    if row.reason:
        console.print(f"  reason: {escape(row.reason)}")
    for plan in row.diff.get("plans", []):
        for change in plan.get("changes", []):
            line = f"  plans[{plan['key']}].{change['path']}: {change['old']} -> {change['new']}"
            console.print(escape(line))
    for check in row.checks:
        mark = "[green]ok[/]" if check["ok"] else "[red]FAILED[/]"
        console.print(f"  check {check['name']}: {mark} {escape(check['message'])}")
    impact = row.impact
    if "delta" in impact:
        console.print(
            f"  impact: {impact['customers']} customers, billed {impact['billed']}, would bill "
            f"{impact['would_bill']} ({impact['currency']} delta {impact['delta']})"
        )
    if row.versions:
        console.print(escape(f"  published: {json.dumps(row.versions)}"))


def propose(
    file: Annotated[Path, typer.Argument(help="Catalog document (YAML or JSON).")],
    effective_at: Annotated[str, typer.Option(help="RFC 3339 instant the change takes effect.")],
    key: KeyOption,
    timing: Annotated[str, typer.Option(help="next_period | immediate")] = "next_period",
    existing: Annotated[str, typer.Option(help="migrate | grandfather")] = "migrate",
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Propose a catalog change: print its diff, checks and impact. Another key approves."""
    from tallybook.documents.catalog.document import CatalogInvalid
    from tallybook.documents.catalog.loading import read_text
    from tallybook.domain.errors import TallybookError, ValidationError
    from tallybook.domain.governance.changes import ChangeTiming, Existing
    from tallybook.domain.periods import parse_instant
    from tallybook.services.governance import Proposal

    if not file.exists():
        err_console.print(f"[red]error[/]: {file}: no such file")
        raise typer.Exit(2)
    container = wired()
    try:
        tenant, actor = _as(container, key, "POST", "/v1/catalog/changes")
        data = read_text(file.read_text(encoding="utf-8"), str(file))
        when = parse_instant(effective_at)
        if when is None or not isinstance(data, dict):
            raise ValidationError("give a catalog document and an RFC 3339 --effective-at")
        proposal = Proposal(data, when, ChangeTiming(timing), Existing(existing), reason)
        view = container.governance.propose(tenant, actor, proposal)
        _record(container, tenant, actor, "cli changes propose", view, reason)
        _show(view)
    except CatalogInvalid as exc:
        for issue in exc.issues:
            err_console.print(f"[red]error[/] {file}: {issue}")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err_console.print(f"[red]error[/] {exc}")
        raise typer.Exit(1) from None
    except TallybookError as exc:
        _fail(exc)
    finally:
        container.close()


def list_changes(
    key: KeyOption,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List catalog changes."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        tenant, _actor = _as(container, key, "GET", "/v1/catalog/changes")
        table = Table("id", "status", "kind", "author", "effective", "plans")
        cursor = None
        while True:
            page = container.governance.list_changes(
                tenant, status=status, limit=1000, cursor=cursor
            )
            for view in page.items:
                plans = ",".join(p["key"] for p in view.row.document.get("plans", []))
                table.add_row(
                    view.row.id,
                    view.status.value,
                    view.row.kind,
                    view.row.author,
                    view.row.effective_at.isoformat(),
                    plans,
                )
            cursor = page.next_cursor
            if cursor is None:
                break
        console.print(table)
    except TallybookError as exc:
        _fail(exc)
    finally:
        container.close()


def show(change_id: Annotated[str, typer.Argument(help="The change id.")], key: KeyOption) -> None:
    """Show a change: diff, checks, impact, decision."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        tenant, _actor = _as(container, key, "GET", "/v1/catalog/changes/{change_id}")
        _show(container.governance.get(tenant, change_id))
    except TallybookError as exc:
        _fail(exc)
    finally:
        container.close()


def _decide(change_id: str, key: str, reason: str | None, verb: str) -> None:
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        route = f"/v1/catalog/changes/{{change_id}}/{verb}"
        tenant, actor = _as(container, key, "POST", route)
        decide = container.governance.approve if verb == "approve" else container.governance.reject
        view = decide(tenant, change_id, actor, reason)
        _record(container, tenant, actor, f"cli changes {verb}", view, reason)
        _show(view)
    except TallybookError as exc:
        _fail(exc)
    finally:
        container.close()


def approve(
    change_id: Annotated[str, typer.Argument(help="The change id.")],
    key: KeyOption,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Approve a change (not with its author's key): publish it and move subscribers."""
    _decide(change_id, key, reason, "approve")


def reject(
    change_id: Annotated[str, typer.Argument(help="The change id.")],
    key: KeyOption,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Reject a pending change."""
    _decide(change_id, key, reason, "reject")


def verify(
    tenant: Annotated[str, typer.Option(help="Tenant whose chain to verify.")] = "default",
) -> None:
    """Recompute the audit hash chain; exit 1 naming the first broken entry."""
    container = wired()
    try:
        result = container.audit.verify(tenant)
    finally:
        container.close()
    body: dict[str, Any] = {
        "ok": result.ok,
        "entries": result.entries,
        "broken_at": result.broken_at,
        "problem": result.reason,
    }
    console.print_json(json.dumps(body))
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    changes_app.command("propose")(propose)
    changes_app.command("list")(list_changes)
    changes_app.command("show")(show)
    changes_app.command("approve")(approve)
    changes_app.command("reject")(reject)
    audit_app.command("verify")(verify)
    app.add_typer(changes_app, name="changes")
    app.add_typer(audit_app, name="audit")
