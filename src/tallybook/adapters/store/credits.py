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

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    String,
    Text,
    cast,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.billing_writes import _invoice_row, take_numbers
from tallybook.adapters.store.email_deliveries import email_rows
from tallybook.adapters.store.invoice_totals import write_invoice_totals
from tallybook.adapters.store.schema_billing import customers, invoices
from tallybook.adapters.store.schema_credits import credit_entries, credit_grants
from tallybook.adapters.store.types import decimal_param, decimal_result, from_micros, to_micros
from tallybook.adapters.store.unit_of_work import SqlUnitOfWork
from tallybook.domain.billing.drafts import InvoiceWrite
from tallybook.domain.billing.invoice import InvoiceDraft, InvoiceStatus, content_digest
from tallybook.domain.billing.lines import line_to_dict
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.ledger import (
    AppliesTo,
    Category,
    Entry,
    EntryType,
    Grant,
    with_balances,
)
from tallybook.domain.errors import WriteConflict

ZERO = Decimal(0)


# A grant's columns in ``Grant``'s field order, as stored: a billing run reads thousands
# of grants, so rows are unpacked by position and typed by ``grant_from_row`` with the
# column types' own rules (``types``) instead of SQLAlchemy's per-value processing.
GRANT_COLUMNS = (
    credit_grants.c.id,
    credit_grants.c.customer_id,
    credit_grants.c.currency,
    type_coerce(credit_grants.c.amount, String),
    credit_grants.c.category,
    credit_grants.c.priority,
    type_coerce(credit_grants.c.effective_at, BigInteger),
    type_coerce(credit_grants.c.expires_at, BigInteger),
    cast(credit_grants.c.applies_to, Text),
    type_coerce(credit_grants.c.created_at, BigInteger),
    type_coerce(credit_grants.c.purchase_price, String),
    credit_grants.c.description,
    credit_grants.c.source,
    credit_grants.c.subscription_id,
    credit_grants.c.charge_key,
)


def grant_from_row(row: Sequence[Any], scopes: dict[str, AppliesTo] | None = None) -> Grant:
    """A ``Grant`` from a row of ``GRANT_COLUMNS``; ``scopes`` (applies_to JSON text ->
    value) lets many rows share their parsed ``applies_to``."""
    (
        grant_id,
        customer,
        currency,
        amount,
        category,
        priority,
        effective_at,
        expires_at,
        applies_to,
        created_at,
        purchase_price,
        description,
        source,
        subscription,
        charge,
    ) = row
    scope = None if scopes is None else scopes.get(applies_to)
    if scope is None:
        scope = AppliesTo.from_json(json.loads(applies_to))
        if scopes is not None:
            scopes[applies_to] = scope
    return Grant(
        grant_id,
        customer,
        currency,
        Decimal(str(amount)),
        Category(category),
        priority,
        from_micros(effective_at),
        None if expires_at is None else from_micros(expires_at),
        scope,
        from_micros(created_at),
        decimal_result(purchase_price),
        description,
        source,
        subscription,
        charge,
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
    """Store one grant (its entries are appended separately)."""
    insert_grants(conn, tenant_id, [grant])


def insert_grants(conn: Connection, tenant_id: str, grants: Sequence[Grant]) -> None:
    """Store ``grants`` with one (executemany) insert."""
    if not grants:
        return
    conn.execute(insert(credit_grants), [_grant_row(tenant_id, grant) for grant in grants])


def _grant_row(tenant_id: str, grant: Grant) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": grant.id,
        "customer_id": grant.customer,
        "currency": grant.currency,
        "amount": grant.amount,
        "category": grant.category.value,
        "priority": grant.priority,
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "applies_to": grant.applies_to.to_json(),
        "purchase_price": grant.purchase_price,
        "description": grant.description,
        "source": grant.source,
        "created_at": grant.created_at,
        "subscription_id": grant.subscription,
        "charge_key": grant.charge,
    }


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
    rows: list[tuple[Any, ...]] = []
    for customer, currency, entries in wanted:
        head = heads.get((customer, currency), (0, ZERO))
        rows += _rows(conn, tenant_id, customer, currency, entries, head, now)
    _insert_rows(conn, rows)


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
    _insert_rows(conn, _rows(conn, tenant_id, customer, currency, entries, head, now))
    return with_balances(entries, head[1])


# ``credit_entries`` in column order; ledger writes are batches of thousands of rows in a
# billing run, bound here (``types.decimal_param``, ``types.to_micros``: the column types'
# own rules) and sent with the driver's executemany, without SQLAlchemy's per-row work
_ENTRY_COLUMNS = ", ".join(column.name for column in credit_entries.c)


def _insert_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * len(credit_entries.c))
    conn.exec_driver_sql(f"INSERT INTO credit_entries ({_ENTRY_COLUMNS}) VALUES ({marks})", rows)


def _rows(
    conn: Connection,
    tenant_id: str,
    customer: str,
    currency: str,
    entries: Sequence[Entry],
    head: tuple[int, Decimal],
    now: datetime,
) -> list[tuple[Any, ...]]:
    """``credit_entries`` rows (column order, bound values) numbering ``entries`` after
    ``head`` (last seq, balance) with their running ``balance_after``."""
    decimal = decimal_param(conn.dialect)
    created = to_micros(now)
    seq, balance = head
    rows = []
    for entry in entries:
        seq += 1
        balance += entry.amount
        rows.append(
            (
                tenant_id,
                customer,
                currency,
                seq,
                entry.grant,
                entry.type.value,
                decimal(entry.amount),
                to_micros(entry.at),
                entry.invoice,
                entry.line,
                decimal(balance),
                created,
            )
        )
    return rows


def grant_balances(
    conn: Connection, tenant_id: str, accounts: Iterable[str]
) -> dict[str, list[tuple[Grant, Decimal]]]:
    """Every grant of the ``accounts`` with its remaining amount, by customer."""
    ids = list(accounts)
    found: dict[str, list[tuple[Grant, Decimal]]] = {}
    if not ids:
        return found
    scopes: dict[str, AppliesTo] = {}
    grants = [
        grant_from_row(row, scopes)
        for row in conn.execute(
            select(*GRANT_COLUMNS).where(
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
    stmt = select(credit_entries.c.grant_id, type_coerce(credit_entries.c.amount, String)).where(
        credit_entries.c.tenant_id == tenant_id, credit_entries.c.customer_id.in_(customers_)
    )
    for grant_id, amount in conn.execute(stmt):  # as stored: typed here, once per entry
        left[grant_id] = left.get(grant_id, ZERO) + Decimal(str(amount))
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
        stmt = select(*GRANT_COLUMNS).where(
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
        stmt = select(*GRANT_COLUMNS).where(
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
        email_rows(self.conn, self.tenant_id, [invoice_id], now)
        write_invoice_totals(self.conn, self.tenant_id, [write])
        return write.number
