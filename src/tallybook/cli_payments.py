"""CLI commands for the Stripe sync: ``tallybook sync stripe [--dry-run]`` and
``tallybook reconcile stripe [--fix]``. Registered on the main app by ``tallybook.cli``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tallybook.cli_support import audited
from tallybook.config import Settings

if TYPE_CHECKING:
    from tallybook.bootstrap import Container
    from tallybook.services.sync import Payments

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
sync_app = typer.Typer(help="Push final invoices to a payment provider.", no_args_is_help=True)
reconcile_app = typer.Typer(
    help="Compare invoices with a payment provider and report drift.", no_args_is_help=True
)


def _container() -> Container:
    from tallybook.bootstrap import build

    return build(Settings())


def _payments(container: Container) -> Payments:
    if container.payments is None:
        err_console.print(
            "[red]error[/] provider_not_configured: set TALLYBOOK_STRIPE_API_KEY "
            "(and install the extra: pip install 'tallybook[stripe]')"
        )
        raise typer.Exit(2)
    return container.payments


@sync_app.command("stripe")
def sync_stripe(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be pushed; send nothing.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option(help="Also retry invoices whose last sync failed.")
    ] = True,
    tenant: Annotated[str, typer.Option(help="Tenant to sync.")] = "default",
) -> None:
    """Push every finalized invoice not yet in Stripe, void the ones voided here since,
    and retry pending ones. Safe to interrupt and run again: nothing is created twice."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    container = _container()
    try:
        sync = _payments(container).sync
        if dry_run:
            planned = sync.plan(tenant, include_failed=retry_failed)
            table = Table("invoice", "number", "customer", "total", "action", "problem")
            for item in planned[:200]:
                table.add_row(
                    item.invoice,
                    item.number or "",
                    item.customer,
                    f"{item.total:f} {item.currency}",
                    item.action,
                    item.error or "",
                )
            console.print(table)
            problems = sum(1 for item in planned if item.error)
            console.print(
                f"dry run: {len(planned)} invoices would be synced ({problems} would fail); "
                "nothing was sent"
            )
            return
        due = sync.count_due(tenant, include_failed=retry_failed)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("pushing invoices to Stripe", total=due)
            result = sync.sync(
                tenant,
                include_failed=retry_failed,
                progress=lambda n: progress.advance(task, n),
            )
        audited(
            container,
            tenant,
            "cli sync stripe",
            "providers/stripe/sync",
            {
                "synced": result.synced,
                "pending": result.pending,
                "failed": result.failed,
                "skipped": result.skipped,
            },
        )
        console.print(
            f"{result.synced} synced, {result.pending} pending (retried later), "
            f"{result.failed} failed, {result.skipped} held by another worker"
        )
        for invoice, error in list(result.errors.items())[:20]:
            console.print(f"  {invoice}: {error}")
        if result.failed:
            raise typer.Exit(1)
    finally:
        container.close()


@reconcile_app.command("stripe")
def reconcile_stripe(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Repair: push missing invoices, pull paid status, void orphans "
            "(amount mismatches are only reported).",
        ),
    ] = False,
    start: Annotated[
        str | None, typer.Option("--from", help="Window start, RFC 3339 (default: 35 days ago).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Window end, RFC 3339, exclusive (default: now).")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant to reconcile.")] = "default",
) -> None:
    """Compare every final invoice finalized in the window with Stripe; print the drift.

    The run is stored like one made through POST /v1/reconciliation-runs (GET it, or its
    .csv). Exits 1 when drift remains."""
    from tallybook.domain.errors import TallybookError
    from tallybook.domain.periods import parse_instant
    from tallybook.services.ports import ProviderError
    from tallybook.services.sync.reconcile import drift_amount

    container = _container()
    try:
        payments = _payments(container)
        now = container.clock.now()
        days = payments.reconciliation.options.window_days
        window_end = parse_instant(end) if end else now
        window_start = parse_instant(start) if start else window_end - timedelta(days=days)
        run = payments.reconciliation.run(tenant, window_start, window_end, fix=fix, trigger="cli")
        rows = payments.reconciliation.rows(tenant, run.id)
        audited(
            container,
            tenant,
            "cli reconcile stripe" + (" --fix" if fix else ""),
            f"reconciliation-runs/{run.id}",
            {"id": run.id, "fix": fix, "checked": run.checked, "counts": run.counts},
        )
    except (TallybookError, ProviderError) as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    table = Table(
        "invoice", "number", "local", "remote", "category", "drift", "action", title=run.id
    )
    shown = [row for _, row in rows if row.category != "ok"]
    for row in shown[:100]:
        local = "" if row.local_total is None else f"{row.local_total:f} {row.local_status}"
        remote = "" if row.remote_total is None else f"{row.remote_total:f} {row.remote_status}"
        action = (
            row.action + (" (done)" if row.applied else "") + (f" {row.error}" if row.error else "")
        )
        table.add_row(
            row.invoice or "",
            row.number or "",
            local,
            remote,
            row.category,
            f"{row.drift:f}",
            action,
        )
    if shown:
        console.print(table)
    counts = ", ".join(f"{n} {category}" for category, n in run.counts.items() if n)
    amount = drift_amount(run)
    drift = f"{amount:f}" if amount is not None else "several currencies"
    per_currency = ", ".join(f"{v:f} {c}" for c, v in sorted(run.drift.items()))
    console.print(
        f"checked {run.checked}: {counts or 'nothing'}; drift {drift}"
        + (f" ({per_currency})" if per_currency else "")
    )
    if fix:
        console.print(f"fixed {sum(1 for row in shown if row.applied)} of {len(shown)}")
    if any(not row.applied for row in shown):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")
    app.add_typer(reconcile_app, name="reconcile")
