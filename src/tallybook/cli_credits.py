"""``tallybook credits grant|list|ledger``: the credits ledger from the command line.

Same services as ``/v1/customers/{id}/credit-grants`` and ``/credit-ledger``; errors are
printed with their code and exit 1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tallybook.cli_support import container as wired

credits_app = typer.Typer(help="Credit grants and the credits ledger.", no_args_is_help=True)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@credits_app.command("grant")
def grant(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    amount: Annotated[str, typer.Argument(help="Amount, a decimal in the customer's currency.")],
    currency: Annotated[str | None, typer.Option(help="Default: the customer's.")] = None,
    grant_id: Annotated[str | None, typer.Option("--id", help="Client id (idempotent).")] = None,
    category: Annotated[str, typer.Option(help="promotional or paid.")] = "promotional",
    priority: Annotated[int, typer.Option(help="0-100, lower drawn first.")] = 50,
    effective_at: Annotated[str | None, typer.Option(help="RFC 3339; default now.")] = None,
    expires_at: Annotated[str | None, typer.Option(help="RFC 3339; default never.")] = None,
    applies_to: Annotated[str, typer.Option(help="usage or all.")] = "usage",
    description: Annotated[str | None, typer.Option(help="Shown on invoices.")] = None,
    tenant: Annotated[str, typer.Option(help="Tenant.")] = "default",
) -> None:
    """Grant credits to a customer (drawn at finalization, lowest priority first)."""
    from tallybook.domain.errors import TallybookError
    from tallybook.domain.money import to_decimal
    from tallybook.domain.periods import parse_instant
    from tallybook.services.credits import GrantRequest

    container = wired()
    try:
        who = container.customers.get(tenant, customer)
        request = GrantRequest(
            id=grant_id,
            amount=to_decimal(amount, field="amount"),
            currency=currency or who.currency,
            category=category,
            priority=priority,
            effective_at=parse_instant(effective_at) if effective_at else None,
            expires_at=parse_instant(expires_at) if expires_at else None,
            applies_to=applies_to,
            description=description,
        )
        made, created = container.credits.create_grant(tenant, customer, request)
        verb = "granted" if created else "already granted"
        console.print(f"{verb} {made.id}: {made.amount:f} {made.currency} to {customer}")
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()


@credits_app.command("list")
def list_grants(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    tenant: Annotated[str, typer.Option(help="Tenant.")] = "default",
) -> None:
    """A customer's grants with what is left of each, and the balance."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        summary = container.credits.summary(tenant, customer)
        grants = container.credits.grants(tenant, customer)
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    table = Table("id", "category", "priority", "amount", "remaining", "effective", "expires")
    for item, left in grants:
        table.add_row(
            item.id,
            item.category.value,
            str(item.priority),
            f"{item.amount:f}",
            f"{left:f}",
            f"{item.effective_at:%Y-%m-%d %H:%M}",
            "never" if item.expires_at is None else f"{item.expires_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(
        f"balance {summary.balance:f}  available {summary.available:f} {summary.currency}"
    )


@credits_app.command("ledger")
def ledger(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    limit: Annotated[int, typer.Option(help="Entries to show (oldest first).")] = 1000,
    tenant: Annotated[str, typer.Option(help="Tenant.")] = "default",
) -> None:
    """The customer's append-only credits ledger, oldest first."""
    from tallybook.domain.errors import TallybookError

    container = wired()
    try:
        entries = container.credits.ledger(
            tenant, customer, after=0, limit=max(1, min(limit, 1000))
        )
    except TallybookError as exc:
        err_console.print(f"[red]error[/] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    table = Table("#", "at", "grant", "type", "amount", "invoice", "balance after")
    for seq, entry in entries:
        table.add_row(
            str(seq),
            f"{entry.at:%Y-%m-%d %H:%M}",
            entry.grant,
            entry.type.value,
            f"{entry.amount:f}",
            entry.invoice or "",
            f"{entry.balance_after:f}",
        )
    console.print(table)
    total = sum((e.amount for _, e in entries), Decimal(0))
    console.print(f"{len(entries)} entries, sum {total:f}")
