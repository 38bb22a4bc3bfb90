"""``scripts/screenshots.py`` knows every GET page route: a new console or portal page
must be added to its tour (``PAGES``) or said not to be a page (``NOT_PAGES``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


def load_tour() -> ModuleType:
    """The screenshot script as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("screenshots", module)
    spec.loader.exec_module(module)
    return module


def test_every_get_route_has_an_entry_and_no_entry_is_stale() -> None:
    tour = load_tour()
    routes = tour.page_routes()
    assert "/console/customers/{customer_id:path}" in routes and "/portal/account" in routes
    assert tour.unlisted(routes) == []
    assert tour.stale(routes) == []


def test_a_new_route_without_an_entry_is_reported() -> None:
    tour = load_tour()
    assert tour.unlisted([*tour.page_routes(), "/console/new-page"]) == ["/console/new-page"]
