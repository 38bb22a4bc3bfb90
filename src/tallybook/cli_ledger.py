"""``tallybook ledger maintain``: monthly partitions and retention of the event ledger.

The same step ``tallybook serve`` runs on every scheduler pass (``LedgerMaintenance``,
docs/scaling.md): creates the partitions of the months ahead on PostgreSQL and, with
``TALLYBOOK_EVENT_LEDGER_RETENTION_MONTHS`` set, drops or deletes the events before the
horizon. For a cron job when the server's scheduler is off.
"""

from __future__ import annotations

import typer
from rich.console import Console

from tallybook.cli_support import container as wired

ledger_app = typer.Typer(help="The event ledger's partitions and retention.", no_args_is_help=True)
console = Console(soft_wrap=True)


@ledger_app.command("maintain")
def maintain() -> None:
    """Create partitions ahead and apply the retention setting; prints what it did."""
    container = wired()
    assert container.ledger is not None
    report = container.ledger.run()
    console.print(f"created: {', '.join(report.created) or '-'}")
    console.print(f"dropped: {', '.join(report.dropped) or '-'}")
    console.print(f"deleted rows: {report.deleted}")
    if report.held:
        console.print("retention held: batches wait to be shipped to ClickHouse; run again later")
