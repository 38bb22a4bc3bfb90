"""Audit entries for the console's governance actions (propose, approve, reject, roll back).

The API's entries come from ``api.audit_hook`` and the CLI's from ``cli_governance``; the
console's are written here, after the service call succeeded, through the same
``AuditService.record``: ``actor`` is the key's name, ``action`` ``console changes
<verb>`` (as the CLI writes ``cli changes <verb>``), ``object`` ``catalog/changes/<id>``.
"""

from __future__ import annotations

import logging

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
    """Append ``console changes <verb>`` for ``view``. As in the API, a failed append is
    logged and the (committed) action stands."""
    after = {
        "id": view.row.id,
        "kind": view.row.kind,
        "status": view.status.value,
        "versions": view.row.versions,
    }
    entry = AuditRecord(
        who.name or who.key_id,
        who.key_id,
        f"console changes {verb}",
        f"catalog/changes/{view.row.id}",
        None,
        after,
        reason,
    )
    try:
        container.audit.record(who.tenant_id, entry)
    except Exception:  # the action is committed: say so in the log, answer anyway
        log.exception("audit append failed for console changes %s %s", verb, view.row.id)
