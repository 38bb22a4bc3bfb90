"""The Jinja2 environment of the portal and the invoice page (templates ship in the package)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("tallybook.portal", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def static_text(name: str) -> str:
    """A file of ``portal/static`` as text (for embedding, or serving)."""
    return resources.files("tallybook.portal").joinpath("static", name).read_text("utf-8")
