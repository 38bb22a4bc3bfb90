"""Guard rails: the layer rules of ARCHITECTURE.md, checked on the source itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tallybook"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: p.name)
def test_domain_imports_only_stdlib_and_itself(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or name.startswith("tallybook.domain")
        assert allowed, f"{path.name} imports {name}: domain/ may import only the standard library"


@pytest.mark.parametrize("path", _modules("client"), ids=lambda p: p.name)
def test_sdk_depends_on_httpx_only(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = (
            top in sys.stdlib_module_names or top == "httpx" or name.startswith("tallybook.client")
        )
        assert allowed, f"{path.name} imports {name}: the SDK may import only httpx and the stdlib"


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_never_import_the_web_framework(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in {"fastapi", "starlette", "typer"}, f"{path.name} imports {name}"
        assert not name.startswith("tallybook.api"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_depend_on_ports_never_on_adapters(path: Path) -> None:
    """Services import the domain, the ports (``services/ports/``), other services and the
    catalog document models; never an adapter, an entrypoint or the composition root."""
    allowed = ("tallybook.domain", "tallybook.services", "tallybook.documents.catalog")
    for name in _imports(path):
        if name.startswith("tallybook"):
            assert name.startswith(allowed), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: p.name)
def test_adapters_never_import_a_service(path: Path) -> None:
    """Adapters implement ports; they never call back into a service."""
    for name in _imports(path):
        if name.startswith("tallybook.services"):
            is_port = name == "tallybook.services.ports" or name.startswith(
                "tallybook.services.ports."
            )
            assert is_port, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("domain") + _modules("services"), ids=lambda p: p.name)
def test_domain_and_services_never_use_float_for_money(path: Path) -> None:
    source = path.read_text()
    assert "float(" not in source, f"{path.name} converts to float"


@pytest.mark.parametrize("path", _modules("portal"), ids=lambda p: p.name)
def test_portal_never_imports_api_routes(path: Path) -> None:
    """The portal shares the app's plumbing (``api.deps``, ``api.auth``), never a route."""
    for name in _imports(path):
        assert not name.startswith("tallybook.api.routes"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("api"), ids=lambda p: p.name)
def test_api_never_imports_the_portal(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith("tallybook.portal"), f"{path.name} imports {name}"
        assert not name.startswith("tallybook.console"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("console"), ids=lambda p: p.name)
def test_console_never_imports_routes_or_adapters(path: Path) -> None:
    """The console is an entrypoint like the portal: the app's plumbing (``api.deps``,
    ``api.auth``, ``api.errors``) and services, never another entrypoint's routes or an
    adapter (pages call the container's services, never the HTTP API)."""
    for name in _imports(path):
        assert not name.startswith(("tallybook.api.routes", "tallybook.portal.routes")), (
            f"{path.name} imports {name}"
        )
        assert not name.startswith("tallybook.adapters"), f"{path.name} imports {name}"
        assert name not in ("httpx", "requests", "aiohttp"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("documents"), ids=lambda p: p.name)
def test_documents_never_import_an_entrypoint(path: Path) -> None:
    """Documents are rendered for the API, the portal and the CLI alike."""
    for name in _imports(path):
        assert not name.startswith(("tallybook.api", "tallybook.portal", "tallybook.cli")), (
            f"{path.name} imports {name}"
        )
        assert not name.startswith("tallybook.adapters"), f"{path.name} imports {name}"
