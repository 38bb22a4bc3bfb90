"""What every CLI module shares: the wired container (one ``bootstrap.build`` per command).

Kept apart from ``tallybook.cli`` so the sub-apps (``cli_credits``, ``cli_analytics``, ...)
can import it without importing the main app that registers them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tallybook.config import Settings

if TYPE_CHECKING:
    from tallybook.bootstrap import Container


def container(settings: Settings | None = None) -> Container:
    """The services wired on ``settings`` (default: read from the environment); runs
    migrations like the server does. Import of ``bootstrap`` is deferred so ``--help`` stays fast."""
    from tallybook.bootstrap import build

    return build(settings or Settings())
