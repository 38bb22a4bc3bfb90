"""Browser assets the console serves from the installed ``node_modules`` (npm, lock file).

Nothing third-party is copied into the repository or fetched from a CDN: ``npm ci`` (run by
``make install`` when npm exists) installs the versions pinned in ``package-lock.json``,
and the app serves the few files it needs from that folder. The folder is
``TALLYBOOK_NODE_MODULES`` when set, else ``node_modules`` in the working directory, else
the one at the repository root next to ``src/``. When a file is missing the console says
so on every page (``missing()``) instead of failing silently.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

# URL name -> (path inside node_modules, media type)
ASSETS: dict[str, tuple[str, str]] = {
    "htmx.min.js": ("htmx.org/dist/htmx.min.js", "text/javascript; charset=utf-8"),
    "chart.umd.min.js": ("chart.js/dist/chart.umd.min.js", "text/javascript; charset=utf-8"),
    "redoc.standalone.js": ("redoc/bundles/redoc.standalone.js", "text/javascript; charset=utf-8"),
}
CONSOLE_ASSETS = ("htmx.min.js", "chart.umd.min.js")  # the console's pages need these


def node_modules() -> Path:
    """The ``node_modules`` folder the assets are read from (it may not exist)."""
    configured = os.environ.get("TALLYBOOK_NODE_MODULES")
    if configured:
        return Path(configured)
    here = Path.cwd() / "node_modules"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "node_modules"


def path_of(name: str) -> Path | None:
    """The file behind an asset URL name, or None for a name that is not an asset."""
    entry = ASSETS.get(name)
    return None if entry is None else node_modules() / entry[0]


def media_type(name: str) -> str:
    return ASSETS[name][1]


@cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def read(name: str) -> bytes | None:
    """The bytes of an asset, or None when it is not installed."""
    path = path_of(name)
    if path is None or not path.is_file():
        return None
    return _read(path)


def missing(names: tuple[str, ...] = CONSOLE_ASSETS) -> list[str]:
    """Those of ``names``' files that are not installed (run ``npm ci`` to install them)."""
    paths = [ASSETS[name][0] for name in names]
    return [path for path in paths if not (node_modules() / path).is_file()]
