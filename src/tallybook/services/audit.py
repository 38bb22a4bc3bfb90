"""The audit log: the one home for "record a mutation" (CONTRACT.md, governance).

The API records every successful mutating call through ``api/audit_hook.py`` and the CLI
every mutating command through ``cli`` helpers; both end in ``AuditService.record``.
Catalog-change decisions are recorded by the governance store in the decision's own
transaction (``append_on``), so an approval is never committed without its entry.
Entries form a per-tenant hash chain (``domain.governance.audit``); ``verify`` walks it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tallybook.domain.errors import ValidationError
from tallybook.domain.governance.audit import (
    MAX_REASON,
    AuditEntry,
    AuditRecord,
    Verification,
    bounded,
    check_complete,
    verify,
)
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import AuditStore, Clock

CLI_ACTOR = "cli"


class AuditService:
    """Append to, list and verify a tenant's audit chain."""

    def __init__(self, store: AuditStore, clock: Clock):
        self._store = store
        self._clock = clock

    def record(self, tenant_id: str, record: AuditRecord) -> AuditEntry:
        """Append one entry (``before``/``after`` bounded, ``reason`` cut to
        ``MAX_REASON`` characters) and return it sealed."""
        return self._store.append(tenant_id, [prepared(record)], self._clock.now())[0]

    def list(
        self,
        tenant_id: str,
        *,
        object: str | None = None,
        actor: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        action: str | None = None,
    ) -> Page[AuditEntry]:
        """A page of entries by ``seq``; ``at`` in ``[start, end)``; ``action`` a
        case-insensitive substring of the action (the console's filter). Raises
        ``invalid_limit``, ``invalid_cursor``, ``invalid_range`` (start after end)."""
        if start is not None and end is not None and start > end:
            raise ValidationError("from must not be after to", code="invalid_range")
        after = decode_cursor(cursor, (int,))
        rows = self._store.page(
            tenant_id,
            object=object,
            actor=actor,
            start=start,
            end=end,
            after_seq=None if after is None else int(after[0] or 0),
            limit=check_limit(limit) + 1,
            action=action or None,
        )
        return page_of(rows, limit, lambda e: [e.seq])

    def verify(self, tenant_id: str) -> Verification:
        """Recompute the tenant's chain: the first broken entry, or ok."""
        result = verify(self._store.links(tenant_id))
        return check_complete(result, self._store.head_seq(tenant_id))


def prepared(record: AuditRecord) -> AuditRecord:
    """``record`` within bounds (values bounded, reason and names cut)."""
    reason = None if record.reason is None else record.reason[:MAX_REASON]
    return replace(
        record,
        actor=record.actor[:200],
        actor_key=record.actor_key[:64],
        action=record.action[:200],
        object=record.object[:500],
        before=bounded(record.before),
        after=bounded(record.after),
        reason=reason,
    )
