"""The console's navigation registry: one entry per page module, in menu order."""

from __future__ import annotations

from dataclasses import dataclass

READERS = ("admin", "viewer", "billing", "pricing_editor", "pricing_approver")


@dataclass(frozen=True, slots=True)
class NavItem:
    """A menu entry: ``key`` (the page module's name), its label, its URL and the roles
    that may see it (default: every role that may log in; ``admin`` sees every entry)."""

    key: str
    label: str
    path: str
    roles: tuple[str, ...] = READERS


NAV: list[NavItem] = []


def register(item: NavItem) -> NavItem:
    """Add a page to the menu (once per key; a module imported twice does not repeat)."""
    if all(existing.key != item.key for existing in NAV):
        NAV.append(item)
    return item


def visible(roles: tuple[str, ...]) -> list[NavItem]:
    """The entries a key with ``roles`` may see."""
    return [item for item in NAV if "admin" in roles or set(item.roles) & set(roles)]
