"""Audit entries for the console's actions: every console form that changes something.

The API's entries come from ``api.audit_hook`` and the CLI's from ``cli_governance``; the
console's are written here, after the service call succeeded, through the same
``AuditService.record``: ``actor`` is the key's name, ``action`` ``console <what> <verb>``
(as the CLI writes ``cli changes <verb>``: ``console changes approve``, ``console invoices
pay``, ``console credit-grants create``, ...), ``object`` the resource path as the API
names it (``catalog/changes/<id>``, ``invoices/<id>``).
"""

from __future__ import annotations

import logging
from typing import Any

from tallybook.bootstrap import Container
from tallybook.console.web import Operator
from tallybook.domain.governance.audit import AuditRecord
from tallybook.services.governance import Actor, ChangeView

log = logging.getLogger("tallybook.audit")


def actor(who: Operator) -> Actor:
    """The governance actor of a console user (key id and name)."""
    return Actor(who.key_id, who.name or who.key_id)


def record(
    container: Container, who: Operator, verb: str, view: ChangeView, reason: str | None
) -> None:
    """Append ``console changes <verb>`` for the catalog change ``view``."""
    after = {
        "id": view.row.id,
        "kind": view.row.kind,
        "status": view.status.value,
        "versions": view.row.versions,
    }
    action(
        container, who, f"console changes {verb}", f"catalog/changes/{view.row.id}", after, reason
    )


def action(
    container: Container,
    who: Operator,
    name: str,
    obj: str,
    after: Any = None,
    reason: str | None = None,
) -> None:
    """Append one entry for a console action that has succeeded. As in the API, a failed
    append is logged and the (committed) action stands."""
    entry = AuditRecord(who.name or who.key_id, who.key_id, name, obj, None, after, reason)
    try:
        container.audit.record(who.tenant_id, entry)
    except Exception:  # the action is committed: say so in the log, answer anyway
        log.exception("audit append failed for %s %s", name, obj)
