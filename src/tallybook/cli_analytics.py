"""CLI commands for analytics: ``tallybook backtest`` (with a rich progress bar) and
``tallybook export --to parquet DIR``. Registered on the main app by ``tallybook.cli``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tallybook.cli_support import audited
from tallybook.cli_support import container as wired

if TYPE_CHECKING:
    pass

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def backtest(
    start: Annotated[str, typer.Option("--from", help="Window start (RFC 3339).")],
    end: Annotated[str, typer.Option("--to", help="Window end (RFC 3339), exclusive.")],
    plan: Annotated[str, typer.Option(help="The plan key to replace.")],
    candidate: Annotated[
        Path, typer.Option(help="YAML or JSON file with the candidate plan document.")
    ],
    customers: Annotated[
        str | None, typer.Option(help="Comma-separated customer ids (default: all).")
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write per-customer rows to this CSV.")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant to backtest.")] = "default",
) -> None:
    """Re-rate closed periods in [--from, --to) with a candidate plan; stores no invoice.

    The job is stored like one made through POST /v1/backtests (GET /v1/backtests/{id}).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tallybook.documents.catalog.loading import read_text
    from tallybook.domain.errors import TallybookError
    from tallybook.domain.periods import parse_instant
    from tallybook.services.backtests import BacktestRequest

    container = wired()
    try:
        document = read_text(candidate.read_text(encoding="utf-8"), str(candidate))
        if not isinstance(document, dict):
            raise typer.BadParameter("the candidate file must hold one plan document")
        ids = [c.strip() for c in customers.split(",") if c.strip()] if customers else None
        request = BacktestRequest(parse_instant(start), parse_instant(end), [(plan, document)], ids)
        row = container.backtests.create(tenant, request, background=False)
        audited(container, tenant, "cli backtest", f"backtests/{row.id}", {"id": row.id})
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("re-rating subscriptions", total=row.total)
            done = container.backtests.run(
                tenant, row.id, request, progress=lambda n: progress.advance(task, n)
            )
        if done.status != "succeeded" or done.result is None:
            error = done.error or {}
            err_console.print(f"[red]failed[/] {error.get('code')}: {error.get('message')}")
            raise typer.Exit(1)
        _print_result(done.id, done.result, csv_out)
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    except OSError as exc:
        err_console.print(f"[red]error[/] cannot read {candidate}: {exc}")
        raise typer.Exit(1) from None
    finally:
        container.close()


def _print_result(backtest_id: str, result: dict[str, object], csv_out: Path | None) -> None:
    import csv

    summary = result["summary"]
    assert isinstance(summary, dict)
    rows = result["customers"]
    assert isinstance(rows, list)
    table = Table("customer", "original", "candidate", "delta", "delta %", title=backtest_id)
    for row in rows[:50]:
        table.add_row(
            row["customer"], row["original"], row["candidate"], row["delta"], row["delta_pct"] or ""
        )
    console.print(table)
    if len(rows) > 50:
        console.print(f"... and {len(rows) - 50} more customers")
    console.print(
        f"{summary['currency']}: original {summary['original_total']}, candidate "
        f"{summary['candidate_total']}, delta [bold]{summary['delta']}[/] "
        f"({summary['delta_pct'] or '-'}%); up {summary['customers_up']}, down "
        f"{summary['customers_down']}, same {summary['customers_same']}"
    )
    if csv_out is not None:
        header = ["customer", "currency", "original", "candidate", "delta", "delta_pct", "periods"]
        with csv_out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([row[h] for h in header] for row in rows)
        console.print(f"wrote {csv_out}")


def export(
    directory: Annotated[Path, typer.Argument(help="Directory to write Parquet files into.")],
    to: Annotated[str, typer.Option("--to", help="Output format (parquet).")] = "parquet",
    since: Annotated[
        str | None,
        typer.Option(help="Export rows changed since this instant (default: the watermark)."),
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant to export.")] = "default",
) -> None:
    """Export events, customers, subscriptions, invoices and invoice lines for a warehouse.

    Incremental: each run writes the rows changed since the previous run (the watermark in
    DIR/_watermarks.json), as new files DIR/<table>/<tenant>-<time>.parquet.
    """
    from tallybook.bootstrap import build_exports
    from tallybook.domain.errors import TallybookError
    from tallybook.domain.periods import parse_instant

    if to != "parquet":
        err_console.print(f"[red]error[/] unsupported format {to!r}: only parquet")
        raise typer.Exit(2)
    container = wired()
    try:
        service = build_exports(container)
        when = parse_instant(since) if since else None
        done = service.to_parquet(tenant, directory, since=when)
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    table = Table("table", "rows", "file")
    for item in done:
        table.add_row(item.table, str(item.rows), str(item.path or "-"))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
    app.command("export")(export)
