"""The audit log on SQL: one hash chain per tenant (``domain.governance.audit``).

An append runs in one transaction: it makes sure the tenant's ``audit_heads`` row exists,
locks it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
serialises writers), seals each record after the head, inserts the entries and moves the
head. Two concurrent appends therefore queue on the head row and the chain never forks;
the primary key ``(tenant_id, seq)`` would refuse a fork anyway.

``append_on(conn, ...)`` appends on a caller's connection, so a store can write a fact
and its audit entry in the same transaction.

``before`` and ``after`` are kept as canonical JSON text, exactly the bytes that were
hashed (JSONB would reorder keys and respell numbers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.schema_governance import audit_heads, audit_log
from tallybook.domain.governance.audit import (
    GENESIS,
    AuditEntry,
    AuditRecord,
    StoredLink,
    canonical,
    seal,
)

STREAM_BATCH = 5000


def _json_text(value: Any) -> str | None:
    return None if value is None else canonical(value)


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        at=row.at,
        actor=row.actor,
        actor_key=row.actor_key,
        action=row.action,
        object=row.object,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def append_on(
    conn: Connection, tenant_id: str, records: Sequence[AuditRecord], now: datetime
) -> list[AuditEntry]:
    """Append ``records`` on ``conn`` (inside the caller's transaction)."""
    if not records:
        return []
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(audit_heads)
        .values(tenant_id=tenant_id, seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    head = conn.execute(
        select(audit_heads.c.seq, audit_heads.c.hash)
        .where(audit_heads.c.tenant_id == tenant_id)
        .with_for_update()
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    entries = []
    for record in records:
        seq += 1
        entry = seal(seq, now, record, prev)
        entries.append(entry)
        prev = entry.hash
    conn.execute(
        insert(audit_log),
        [
            {
                "tenant_id": tenant_id,
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "actor_key": e.actor_key,
                "action": e.action,
                "object": e.object,
                "before": _json_text(e.before),
                "after": _json_text(e.after),
                "reason": e.reason,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ],
    )
    conn.execute(
        update(audit_heads).where(audit_heads.c.tenant_id == tenant_id).values(seq=seq, hash=prev)
    )
    return entries


class AuditStore:
    """``ports.AuditStore`` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def append(
        self, tenant_id: str, records: Sequence[AuditRecord], now: datetime
    ) -> list[AuditEntry]:
        with self._engine.begin() as conn:
            return append_on(conn, tenant_id, records, now)

    def page(
        self,
        tenant_id: str,
        *,
        object: str | None,
        actor: str | None,
        start: datetime | None,
        end: datetime | None,
        after_seq: int | None,
        limit: int,
        action: str | None = None,
    ) -> list[AuditEntry]:
        c = audit_log.c
        stmt = select(audit_log).where(c.tenant_id == tenant_id)
        if object is not None:
            stmt = stmt.where(c.object == object)
        if actor is not None:
            stmt = stmt.where(c.actor == actor)
        if action is not None:  # a substring, either case (LIKE differs between stores)
            stmt = stmt.where(func.lower(c.action).contains(action.lower(), autoescape=True))
        if start is not None:
            stmt = stmt.where(c.at >= start)
        if end is not None:
            stmt = stmt.where(c.at < end)
        if after_seq is not None:
            stmt = stmt.where(c.seq > after_seq)
        stmt = stmt.order_by(c.seq).limit(limit)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def links(self, tenant_id: str) -> Iterator[StoredLink]:
        after = 0
        c = audit_log.c
        columns = (
            c.seq, c.at, c.actor, c.actor_key, c.action, c.object,
            c.before, c.after, c.reason, c.prev_hash, c.hash,
        )  # fmt: skip
        while True:
            stmt = (
                select(*columns)
                .where(c.tenant_id == tenant_id, c.seq > after)
                .order_by(c.seq)
                .limit(STREAM_BATCH)
            )
            with self._engine.connect() as conn:
                rows = [StoredLink(*row) for row in conn.execute(stmt)]
            yield from rows
            if len(rows) < STREAM_BATCH:
                return
            after = rows[-1].seq

    def head_seq(self, tenant_id: str) -> int:
        stmt = select(audit_heads.c.seq).where(audit_heads.c.tenant_id == tenant_id)
        with self._engine.connect() as conn:
            found = conn.execute(stmt).scalar()
        return 0 if found is None else int(found)
