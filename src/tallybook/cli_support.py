"""What every CLI module shares: the wired container (one ``bootstrap.build`` per command).

Kept apart from ``tallybook.cli`` so the sub-apps (``cli_credits``, ``cli_analytics``, ...)
can import it without importing the main app that registers them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tallybook.config import Settings

if TYPE_CHECKING:
    from tallybook.bootstrap import Container


def container(settings: Settings | None = None) -> Container:
    """The services wired on ``settings`` (default: read from the environment); runs
    migrations like the server does. Import of ``bootstrap`` is deferred so ``--help`` stays fast."""
    from tallybook.bootstrap import build

    return build(settings or Settings())


def audited(
    container: Any,
    tenant: str,
    action: str,
    obj: str,
    after: Any = None,
    *,
    before: Any = None,
    reason: str | None = None,
) -> None:
    """Record a CLI mutation in the tenant's audit log (the same ``AuditService.record``
    the API's hook calls); the actor is ``cli:<os user>``."""
    from tallybook.domain.governance.audit import AuditRecord

    container.audit.record(
        tenant,
        AuditRecord(cli_actor(), "cli", action, obj, before=before, after=after, reason=reason),
    )


def cli_actor() -> str:
    """``cli:<os user>`` (``cli:unknown`` when the user cannot be told)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"
