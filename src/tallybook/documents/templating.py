"""Jinja2 environments for the packaged templates (documents and portal pages).

Each package ships its own ``templates/`` and ``static/`` folders: ``tallybook.documents``
the invoice page and its stylesheet, ``tallybook.portal`` the portal pages.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

DOCUMENTS = "tallybook.documents"


@cache
def environment(package: str = DOCUMENTS) -> Environment:
    """The autoescaping environment loading ``package``'s ``templates/`` folder."""
    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def static_text(name: str, package: str = DOCUMENTS) -> str:
    """A file of ``package``'s ``static/`` folder as text (for embedding, or serving)."""
    return resources.files(package).joinpath("static", name).read_text("utf-8")
