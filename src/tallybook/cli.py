"""The ``tallybook`` command line. Every command has ``--help``; long work shows progress.

The CLI talks to the same services as the API, through the same composition root.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from tallybook import __version__
from tallybook.cli_credits import credits_app
from tallybook.cli_ledger import ledger_app
from tallybook.cli_support import audited
from tallybook.cli_support import container as wired
from tallybook.config import Settings

if TYPE_CHECKING:
    from tallybook.domain.errors import TallybookError
    from tallybook.services.catalog_diff import CatalogDiff

app = typer.Typer(
    help="Tallybook: metering and billing for usage-based and hybrid SaaS pricing.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@app.command()
def version() -> None:
    """Print the Tallybook version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8080).")] = None,
    demo: Annotated[
        bool, typer.Option(help="Seed a demo catalog, customers and usage when the store is empty.")
    ] = False,
) -> None:
    """Start the API, the customer pages, the billing scheduler and webhook delivery."""
    import uvicorn

    from tallybook import logs
    from tallybook.api.app import create_app
    from tallybook.banner import ShownKey, banner_lines

    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    container = wired(settings)
    new_key = container.tenants.bootstrap_default(
        settings.api_key.get_secret_value() if settings.api_key else None
    )
    host = host or settings.host
    port = port or settings.port
    container.webhooks.own_addresses.append((host, port))  # receivers may not point here
    base = f"http://{host}:{port}"
    keys: list[ShownKey] = []
    if new_key is not None:
        note = "generated: shown once, store it now" if new_key.generated else "registered"
        keys.append(ShownKey(new_key.key, note, new_key.generated))
    if demo:
        from tallybook.demo import KEY_FILE, seed_demo

        keys.append(ShownKey(seed_demo(container), f"demo key, kept in {KEY_FILE}", True))
    console.rule("[bold]Tallybook is running")
    for line in banner_lines(base, keys, demo=demo):
        console.print(line)
    uvicorn.run(
        create_app(container=container, background=True),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-*: only from TALLYBOOK_TRUSTED_PROXIES (create_app)
        loop="uvloop",
        http="httptools",
    )


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option(help="Deliver what is due now, then exit (cron-style).")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics while running."),
    ] = None,
) -> None:
    """Deliver webhooks from the outbox and evaluate alerts (for deployments that run
    them apart from `tallybook serve`; any number of workers may share one PostgreSQL)."""
    import asyncio
    import signal

    from tallybook import logs
    from tallybook.api.metrics import Metrics

    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    container = wired(settings)
    metrics = Metrics()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        metrics.watch_webhook_lag(lambda: container.outbox_queue.lag_seconds(container.clock.now()))
        start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
    delivery = container.delivery_worker(metrics.count_webhook)

    evaluate = settings.alerts_enabled

    async def run() -> None:
        if once:
            if evaluate:  # alerts first: their messages go out in this pass too
                container.alert_evaluator.drain()
            attempts = await delivery.drain()
            console.print(f"{attempts} delivery attempts")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        err_console.print("delivering webhooks (Ctrl-C to stop)")
        if evaluate:
            container.alert_evaluator.start()
        try:
            await delivery.run(stop)
        finally:
            container.alert_evaluator.stop()

    try:
        asyncio.run(run())
    finally:
        container.close()


@keys_app.command("create")
def keys_create(
    tenant: Annotated[
        str, typer.Option(help="Tenant the key belongs to (created if new).")
    ] = "default",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "api key",
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="A role (repeatable): admin, pricing_editor, pricing_approver, billing, "
            "viewer, ingest. Default admin."
        ),
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        new = container.keys.create(tenant, name, role or None)
        audited(
            container,
            tenant,
            "cli keys create",
            f"keys/{new.id}",
            {"id": new.id, "name": new.name, "roles": list(new.roles)},
        )
    except TallybookError as exc:
        _fail(exc)
    console.print(f"tenant {new.tenant_id} key {new.id} ({', '.join(new.roles)}): ", end="")
    console.print(f"[bold green]{new.key}[/]")


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str, typer.Option(help="Tenant whose keys to list.")] = "default",
) -> None:
    """List a tenant's keys (prefix, label and roles only; keys are stored hashed)."""
    container = wired()
    table = Table("id", "prefix", "name", "roles", "created", "revoked")
    cursor: str | None = None
    while True:
        page = container.keys.list(tenant, limit=1000, cursor=cursor)
        for row in page.items:
            table.add_row(
                row.id,
                row.prefix + "…",
                row.name,
                ",".join(row.roles),
                _utc(row.created_at),
                _utc(row.revoked_at),
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (tallybook keys list).")],
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")] = "default",
) -> None:
    """Revoke an API key. The tenant's last admin key cannot be revoked; other running
    processes stop accepting the key within TALLYBOOK_KEY_CACHE_SECONDS."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        row = container.keys.revoke(tenant, key_id)
        after = {"id": row.id, "name": row.name, "revoked_at": _utc(row.revoked_at)}
        audited(container, tenant, "cli keys revoke", f"keys/{row.id}", after)
    except TallybookError as exc:
        _fail(exc)
    console.print(f"revoked {row.id} ({row.name}) at {_utc(row.revoked_at)}")


def _utc(instant: datetime | None) -> str:
    return "" if instant is None else instant.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fail(exc: TallybookError) -> NoReturn:
    err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
    raise typer.Exit(1)


@app.command()
def settings() -> None:
    """Show every setting, its environment variable, current value and meaning."""
    current = Settings()
    table = Table("variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        value = getattr(current, name)
        shown = "***" if name == "api_key" and value else str(value)
        table.add_row(f"TALLYBOOK_{name.upper()}", shown, field.description or "")
    console.print(table)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Catalog document (YAML or JSON).", exists=False)],
) -> None:
    """Check a catalog document; print every problem with its exact place; exit 1 if any."""
    from tallybook.documents.catalog.document import CatalogInvalid, load_catalog_file

    if not file.exists():
        err_console.print(f"[red]error[/]: {file}: no such file")
        raise typer.Exit(2)
    try:
        catalog = load_catalog_file(file)
    except CatalogInvalid as exc:
        for issue in exc.issues:
            err_console.print(f"[red]error[/] {file}: {issue.location}: {issue.message}")
        err_console.print(f"{len(exc.issues)} problem(s) found")
        raise typer.Exit(1) from None
    console.print(
        f"[green]ok[/] {file}: {len(catalog.meters)} meter(s), {len(catalog.plans)} plan(s)"
    )


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="Catalog document (YAML or JSON).", exists=False)],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff without applying it.")
    ] = False,
    tenant: Annotated[str, typer.Option(help="Tenant whose catalog to change.")] = "default",
) -> None:
    """Show what a catalog document changes, then apply it.

    Additive: meters and plans missing from the file are kept. A changed plan publishes a
    new version; existing subscriptions keep theirs. TALLYBOOK_DATABASE_URL picks the store.
    """
    from tallybook.documents.catalog.document import CatalogInvalid
    from tallybook.domain.errors import TallybookError

    if not file.exists():
        err_console.print(f"[red]error[/]: {file}: no such file")
        raise typer.Exit(2)
    text = file.read_text(encoding="utf-8")
    container = wired()
    try:
        container.tenants.ensure_tenant(tenant)
        preview = container.catalog.apply_text(tenant, text, filename=str(file), dry_run=True)
        _print_diff(preview)
        if dry_run or not preview.changed:
            console.print("dry run: nothing applied" if dry_run else "nothing to change")
            return
        applied = container.catalog.apply_text(tenant, text, filename=str(file))
        audited(container, tenant, "cli apply", "catalog", applied.to_dict())
        if applied.to_dict() | {"dry_run": True} != preview.to_dict():
            _print_diff(applied)  # the catalog changed in between: show what was applied
        console.print(f"[green]applied[/] to tenant {tenant}")
    except CatalogInvalid as exc:
        for issue in exc.issues:
            err_console.print(f"[red]error[/] {file}: {issue.location}: {issue.message}")
        raise typer.Exit(1) from None
    except TallybookError as exc:  # approval_required when the tenant requires approval
        _fail(exc)
    finally:
        container.close()


def _print_diff(diff: CatalogDiff) -> None:
    from rich.markup import escape

    from tallybook.services.catalog_diff import changes_text

    marks = {"created": "[green]+", "updated": "[yellow]~", "unchanged": "[dim]="}
    for change in (*diff.meters, *diff.plans):
        version = ""
        if change.kind == "plan" and change.action == "updated":
            version = f" v{change.previous_version} -> v{change.version}"
        elif change.kind == "plan" and change.version is not None:
            version = f" v{change.version}"
        console.print(f"{marks[change.action]} {change.kind} {escape(change.key)}{version}[/]")
        if change.action == "updated":
            for line in changes_text(change.changes):
                console.print(f"    {escape(line)}")
    if not (diff.meters or diff.plans):
        console.print("[dim]the document has no meters or plans[/]")


billing_app = typer.Typer(
    help="Billing runs: close due periods into invoices.", no_args_is_help=True
)
app.add_typer(billing_app, name="billing")
invoices_app = typer.Typer(help="Read invoices.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")
app.add_typer(credits_app, name="credits")
app.add_typer(ledger_app, name="ledger")


@billing_app.command("run")
def billing_run(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="RFC 3339 instant; periods ended at or before it close."),
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant to bill.")] = "default",
) -> None:
    """Close every period ended at or before --as-of (default: now) into invoices.

    Idempotent: running it again bills nothing twice. Drafts within the tenant's grace
    period are recomputed; older ones are finalized and numbered.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tallybook.domain.errors import TallybookError
    from tallybook.domain.periods import parse_instant

    container = wired()
    try:
        when = parse_instant(as_of) if as_of else container.clock.now()
        due = container.billing.count_due(tenant, when)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("billing subscriptions", total=due)
            result = container.billing.run(
                tenant, when, progress=lambda n: progress.advance(task, n)
            )
            progress.update(
                task, completed=max(due, result.subscriptions), total=max(due, result.subscriptions)
            )
        summary = {
            "as_of": when.isoformat(),
            "created": result.created,
            "updated": result.updated,
            "finalized": result.finalized,
            "deleted": result.deleted,
        }
        audited(container, tenant, "cli billing run", "billing-runs", summary)
        console.print(
            f"as of {when.isoformat()}: {result.created} created, {result.updated} updated, "
            f"{result.finalized} finalized, {result.deleted} deleted "
            f"({result.accounts} customers, {result.subscriptions} subscriptions)"
        )
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()


@invoices_app.command("show")
def invoices_show(
    reference: Annotated[str, typer.Argument(help="Invoice id, or number (INV-000042 or 42).")],
    tenant: Annotated[str, typer.Option(help="Tenant the invoice belongs to.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Print one invoice: status, period, every line and the totals."""
    from tallybook.documents.invoice_json import invoice_json
    from tallybook.documents.json_format import dumps
    from tallybook.domain.errors import TallybookError
    from tallybook.formatting import format_quantity

    container = wired()
    try:
        invoice = container.invoices.get(tenant, reference)
        zone = _customer_zone(container, tenant, invoice.customer)
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    if as_json:
        console.print_json(dumps(invoice_json(invoice)).decode())
        return
    title = (
        f"{invoice.display_number or 'draft ' + invoice.id}  {invoice.status.value}  "
        f"{invoice.customer}  {local_time(invoice.period_start, zone)} to "
        f"{local_time(invoice.period_end, zone)} ({zone})"
    )
    table = Table("type", "description", "period", "quantity", "amount", title=title)
    for line in invoice.lines:
        period = ""
        if line.period_start is not None and line.period_end is not None:
            period = f"{local_time(line.period_start, zone)} to {local_time(line.period_end, zone)}"
        table.add_row(
            line.type.value,
            line.description,
            period,
            format_quantity(line.quantity),
            f"{line.amount:f}",
        )
    console.print(table)
    totals = invoice.totals
    console.print(
        f"subtotal {totals.subtotal:f}  discounts {totals.discount_total:f}  "
        f"credits {totals.credits_applied:f}  [bold]total {totals.total:f} {invoice.currency}[/]"
    )


def _customer_zone(container: Any, tenant: str, customer: str) -> str:
    """The customer's IANA time zone (UTC when the customer cannot be read)."""
    from tallybook.domain.errors import NotFound

    try:
        zone: str = container.customers.get(tenant, customer).timezone
    except NotFound:
        return "UTC"
    return zone


def local_time(instant: datetime, zone: str) -> str:
    """``instant`` in ``zone`` for people: the date at local midnight (period edges), else
    date and time. The caller names the zone once (``--json`` keeps ISO UTC)."""
    from tallybook.domain.periods import load_zone

    local = instant.astimezone(load_zone(zone))
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def _register_analytics() -> None:
    from tallybook.cli_analytics import register
    from tallybook.cli_governance import register as register_governance

    register(app)
    register_governance(app)


_register_analytics()


def _register_payments() -> None:
    from tallybook.cli_payments import register

    register(app)


_register_payments()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
