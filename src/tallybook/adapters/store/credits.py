"""Credits storage: grants and the append-only ledger (SQLAlchemy Core).

Entries are only ever inserted (``append_entries``); a grant's remaining is the sum of its
entries, computed in Python because SQLite keeps decimals as text. Every write to one
customer's ledger happens with the customer row locked (``FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers), and the ``(customer, currency,
seq)`` primary key turns a missed lock into ``WriteConflict`` instead of a forked ledger.

``CreditUnitOfWork`` is one customer's ledger transaction for the credits service;
``grant_balances``, ``append_entries`` and ``invoice_entries`` are used inside other units
of work (the billing chunk, an invoice's void) so credits are written with the invoice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.billing_writes import _invoice_row, take_numbers
from tallybook.adapters.store.invoice_totals import write_invoice_totals
from tallybook.adapters.store.schema_billing import customers, invoices
from tallybook.adapters.store.schema_credits import credit_entries, credit_grants
from tallybook.adapters.store.unit_of_work import SqlUnitOfWork
from tallybook.domain.billing.drafts import InvoiceWrite
from tallybook.domain.billing.invoice import InvoiceDraft, InvoiceStatus, content_digest
from tallybook.domain.billing.lines import line_to_dict
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.ledger import AppliesTo, Category, Entry, EntryType, Grant
from tallybook.domain.errors import WriteConflict

ZERO = Decimal(0)


def grant_from_row(row: Any) -> Grant:
    return Grant(
        id=row.id,
        customer=row.customer_id,
        currency=row.currency,
        amount=Decimal(row.amount),
        category=Category(row.category),
        priority=row.priority,
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        applies_to=AppliesTo.from_json(row.applies_to),
        created_at=row.created_at,
        purchase_price=None if row.purchase_price is None else Decimal(row.purchase_price),
        description=row.description,
        source=row.source,
        subscription=row.subscription_id,
        charge=row.charge_key,
    )


def entry_from_row(row: Any) -> Entry:
    return Entry(
        grant=row.grant_id,
        type=EntryType(row.type),
        amount=Decimal(row.amount),
        at=row.at,
        balance_after=Decimal(row.balance_after),
        invoice=row.invoice_id,
        line=row.line,
    )


def insert_grant(conn: Connection, tenant_id: str, grant: Grant) -> None:
    conn.execute(
        insert(credit_grants).values(
            tenant_id=tenant_id,
            id=grant.id,
            customer_id=grant.customer,
            currency=grant.currency,
            amount=grant.amount,
            category=grant.category.value,
            priority=grant.priority,
            effective_at=grant.effective_at,
            expires_at=grant.expires_at,
            applies_to=grant.applies_to.to_json(),
            purchase_price=grant.purchase_price,
            description=grant.description,
            source=grant.source,
            created_at=grant.created_at,
            subscription_id=grant.subscription,
            charge_key=grant.charge,
        )
    )


def ledger_head(
    conn: Connection, tenant_id: str, customer: str, currency: str
) -> tuple[int, Decimal]:
    """The last ``seq`` and ``balance_after`` of a ledger ((0, 0) when empty)."""
    row = conn.execute(
        select(credit_entries.c.seq, credit_entries.c.balance_after)
        .where(
            credit_entries.c.tenant_id == tenant_id,
            credit_entries.c.customer_id == customer,
            credit_entries.c.currency == currency,
        )
        .order_by(credit_entries.c.seq.desc())
        .limit(1)
    ).first()
    return (0, ZERO) if row is None else (int(row.seq), Decimal(row.balance_after))


def ledger_heads(
    conn: Connection, tenant_id: str, customers_: Sequence[str]
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """``ledger_head`` of many customers' ledgers in one query, by (customer, currency)."""
    if not customers_:
        return {}
    last = (
        select(
            credit_entries.c.customer_id,
            credit_entries.c.currency,
            func.max(credit_entries.c.seq).label("seq"),
        )
        .where(
            credit_entries.c.tenant_id == tenant_id,
            credit_entries.c.customer_id.in_(list(customers_)),
        )
        .group_by(credit_entries.c.customer_id, credit_entries.c.currency)
        .subquery()
    )
    stmt = (
        select(
            credit_entries.c.customer_id,
            credit_entries.c.currency,
            credit_entries.c.seq,
            credit_entries.c.balance_after,
        )
        .join(
            last,
            (credit_entries.c.customer_id == last.c.customer_id)
            & (credit_entries.c.currency == last.c.currency)
            & (credit_entries.c.seq == last.c.seq),
        )
        .where(credit_entries.c.tenant_id == tenant_id)
    )
    return {
        (row.customer_id, row.currency): (int(row.seq), Decimal(row.balance_after))
        for row in conn.execute(stmt)
    }


def append_many(
    conn: Connection,
    tenant_id: str,
    writes: Sequence[tuple[str, str, Sequence[Entry]]],
    now: datetime,
) -> None:
    """Append several ledgers' entries ((customer, currency, entries)) with one read of
    their heads and one insert; the caller holds the customers' locks."""
    wanted = [(c, cur, e) for c, cur, e in writes if e]
    if not wanted:
        return
    heads = ledger_heads(conn, tenant_id, sorted({c for c, _, _ in wanted}))
    rows: list[dict[str, Any]] = []
    for customer, currency, entries in wanted:
        head = heads.get((customer, currency), (0, ZERO))
        rows += _rows(tenant_id, customer, currency, entries, head, now)[1]
    conn.execute(insert(credit_entries), rows)


def append_entries(
    conn: Connection,
    tenant_id: str,
    customer: str,
    currency: str,
    entries: Sequence[Entry],
    now: datetime,
) -> list[Entry]:
    """Append ``entries`` to the ledger, numbering them and setting ``balance_after``.

    The caller holds the customer's lock. Returns the entries as written.
    """
    if not entries:
        return []
    head = ledger_head(conn, tenant_id, customer, currency)
    written, rows = _rows(tenant_id, customer, currency, entries, head, now)
    conn.execute(insert(credit_entries), rows)
    return written


def _rows(
    tenant_id: str,
    customer: str,
    currency: str,
    entries: Sequence[Entry],
    head: tuple[int, Decimal],
    now: datetime,
) -> tuple[list[Entry], list[dict[str, Any]]]:
    seq, balance = head
    written, rows = [], []
    for entry in entries:
        seq += 1
        balance += entry.amount
        written.append(
            Entry(
                entry.grant,
                entry.type,
                entry.amount,
                entry.at,
                balance,
                entry.invoice,
                entry.line,
            )
        )
        rows.append(
            {
                "tenant_id": tenant_id,
                "customer_id": customer,
                "currency": currency,
                "seq": seq,
                "grant_id": entry.grant,
                "type": entry.type.value,
                "amount": entry.amount,
                "at": entry.at,
                "invoice_id": entry.invoice,
                "line": entry.line,
                "balance_after": balance,
                "created_at": now,
            }
        )
    return written, rows


def grant_balances(
    conn: Connection, tenant_id: str, accounts: Iterable[str]
) -> dict[str, list[tuple[Grant, Decimal]]]:
    """Every grant of the ``accounts`` with its remaining amount, by customer."""
    ids = list(accounts)
    found: dict[str, list[tuple[Grant, Decimal]]] = {}
    if not ids:
        return found
    grants = [
        grant_from_row(row)
        for row in conn.execute(
            select(credit_grants).where(
                credit_grants.c.tenant_id == tenant_id, credit_grants.c.customer_id.in_(ids)
            )
        )
    ]
    if not grants:
        return found
    left = _remaining(conn, tenant_id, ids)
    for grant in grants:
        found.setdefault(grant.customer, []).append((grant, left.get(grant.id, ZERO)))
    return found


def _remaining(conn: Connection, tenant_id: str, customers_: Sequence[str]) -> dict[str, Decimal]:
    left: dict[str, Decimal] = {}
    stmt = select(credit_entries.c.grant_id, credit_entries.c.amount).where(
        credit_entries.c.tenant_id == tenant_id, credit_entries.c.customer_id.in_(customers_)
    )
    for row in conn.execute(stmt):
        left[row.grant_id] = left.get(row.grant_id, ZERO) + Decimal(row.amount)
    return left


def invoice_entries(conn: Connection, tenant_id: str, invoice_id: str) -> list[Entry]:
    """The entries (debits, reversals) naming one invoice."""
    stmt = (
        select(credit_entries)
        .where(credit_entries.c.tenant_id == tenant_id, credit_entries.c.invoice_id == invoice_id)
        .order_by(credit_entries.c.seq)
    )
    return [entry_from_row(row) for row in conn.execute(stmt)]


def lock_customer(conn: Connection, tenant_id: str, customer: str) -> bool:
    """Lock the customer's row for this transaction (PostgreSQL); whether it exists."""
    stmt = select(customers.c.id).where(
        customers.c.tenant_id == tenant_id, customers.c.id == customer
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first() is not None


class CreditStore:
    """Reads of grants and ledgers, and ``ledger()``: one customer's write transaction."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def ledger(self, tenant_id: str, customer: str) -> CreditUnitOfWork:
        return CreditUnitOfWork(self._engine, tenant_id, customer)

    def get_grant(self, tenant_id: str, grant_id: str) -> Grant | None:
        stmt = select(credit_grants).where(
            credit_grants.c.tenant_id == tenant_id, credit_grants.c.id == grant_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else grant_from_row(row)

    def balances(self, tenant_id: str, customer: str) -> list[tuple[Grant, Decimal]]:
        """The customer's grants with their remaining amounts, in creation order."""
        with self._engine.connect() as conn:
            found = grant_balances(conn, tenant_id, [customer]).get(customer, [])
        return sorted(found, key=lambda item: (item[0].created_at, item[0].id))

    def entries(
        self, tenant_id: str, customer: str, currency: str, *, after: int, limit: int
    ) -> list[tuple[int, Entry]]:
        """Ledger entries (seq, entry) after ``seq`` ``after``, oldest first."""
        stmt = (
            select(credit_entries)
            .where(
                credit_entries.c.tenant_id == tenant_id,
                credit_entries.c.customer_id == customer,
                credit_entries.c.currency == currency,
                credit_entries.c.seq > after,
            )
            .order_by(credit_entries.c.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(int(r.seq), entry_from_row(r)) for r in conn.execute(stmt)]


class CreditUnitOfWork(SqlUnitOfWork):
    """One customer's ledger transaction: lock, read, append; commit or roll back."""

    def __init__(self, engine: Engine, tenant_id: str, customer: str):
        super().__init__(engine)
        self.tenant_id = tenant_id
        self.customer = customer

    def lost_race(self, error: IntegrityError) -> WriteConflict:
        return WriteConflict("a concurrent write to this ledger won", code="write_conflict")

    def lock(self) -> bool:
        """Lock the customer; False when there is no such customer."""
        return lock_customer(self.conn, self.tenant_id, self.customer)

    def grant(self, grant_id: str) -> Grant | None:
        stmt = select(credit_grants).where(
            credit_grants.c.tenant_id == self.tenant_id, credit_grants.c.id == grant_id
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else grant_from_row(row)

    def balances(self) -> list[tuple[Grant, Decimal]]:
        return grant_balances(self.conn, self.tenant_id, [self.customer]).get(self.customer, [])

    def insert_grant(self, grant: Grant) -> None:
        insert_grant(self.conn, self.tenant_id, grant)

    def unpaid_purchases(self, source: str) -> list[str]:
        """Ids of the customer's grants from ``source`` whose ``credit_purchase`` invoice is
        still ``finalized`` (neither paid nor void)."""
        ids = set(
            self.conn.scalars(
                select(credit_grants.c.id).where(
                    credit_grants.c.tenant_id == self.tenant_id,
                    credit_grants.c.customer_id == self.customer,
                    credit_grants.c.source == source,
                )
            )
        )
        if not ids:
            return []
        stmt = select(invoices.c.lines).where(
            invoices.c.tenant_id == self.tenant_id,
            invoices.c.customer_id == self.customer,
            invoices.c.kind == SlotKind.CREDIT_PURCHASE.value,
            invoices.c.status == InvoiceStatus.FINALIZED.value,
        )
        found = {line.get("charge") for row in self.conn.execute(stmt) for line in row.lines}
        return sorted(ids & {c for c in found if isinstance(c, str)})

    def append(self, currency: str, entries: Sequence[Entry], now: datetime) -> list[Entry]:
        return append_entries(self.conn, self.tenant_id, self.customer, currency, entries, now)

    def insert_final_invoice(self, invoice_id: str, draft: InvoiceDraft, now: datetime) -> int:
        """Store ``draft`` finalized, numbered from the tenant's gapless counter in this
        transaction (a rollback gives the number back); returns the number.

        Invoices are unique per (customer, kind, period); two purchases at the same
        instant (a fixed clock, one request) would collide, so the period's end moves one
        microsecond per earlier invoice of that kind and start (the customer is locked)."""
        same = select(func.count()).where(
            invoices.c.tenant_id == self.tenant_id,
            invoices.c.customer_id == draft.customer,
            invoices.c.kind == draft.kind.value,
            invoices.c.period_start == draft.period_start,
        )
        earlier = int(self.conn.execute(same).scalar_one())
        if earlier:
            draft = replace(draft, period_end=draft.period_end + timedelta(microseconds=earlier))
        lines = [line_to_dict(line) for line in draft.lines]
        write = InvoiceWrite(invoice_id, draft, lines, content_digest(lines), now, True)
        write.number = take_numbers(self.conn, self.tenant_id, 1)
        self.conn.execute(insert(invoices), [_invoice_row(self.tenant_id, write, now)])
        write_invoice_totals(self.conn, self.tenant_id, [write])
        return write.number
