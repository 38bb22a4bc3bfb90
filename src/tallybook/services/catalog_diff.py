"""What applying a catalog document changes: per resource (created, updated, unchanged)
and per field (``path: old -> new``), as ``CatalogService.apply`` reports it and the CLI,
the API and governance show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tallybook.services.ports import JsonDict

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field: ``path`` such as ``charges[api].unit_amount``; None = absent."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> JsonDict:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class ResourceChange:
    kind: Literal["meter", "plan"]
    key: str
    action: Action
    changes: tuple[FieldChange, ...] = ()
    version: int | None = None  # plans: the version now (or, in a dry run, to be) latest
    previous_version: int | None = None

    def to_dict(self) -> JsonDict:
        body: JsonDict = {"key": self.key, "action": self.action}
        if self.kind == "plan":
            body["version"] = self.version
            body["previous_version"] = self.previous_version
        body["changes"] = [change.to_dict() for change in self.changes]
        return body


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    meters: tuple[ResourceChange, ...] = ()
    plans: tuple[ResourceChange, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(r.action != "unchanged" for r in (*self.meters, *self.plans))

    def to_dict(self) -> JsonDict:
        return {
            "dry_run": self.dry_run,
            "changed": self.changed,
            "meters": [m.to_dict() for m in self.meters],
            "plans": [p.to_dict() for p in self.plans],
        }


def diff_documents(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Changed leaves between two documents; lists of keyed items are matched by key.

    An absent side (None) of a mapping or keyed list counts as empty, so a created
    resource lists every field it sets.
    """
    if old is None and (isinstance(new, Mapping) or _keyed(new)):
        old = {} if isinstance(new, Mapping) else []
    if new is None and (isinstance(old, Mapping) or _keyed(old)):
        new = {} if isinstance(old, Mapping) else []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[FieldChange] = []
        for name in [*old, *(n for n in new if n not in old)]:
            sub = f"{path}.{name}" if path else str(name)
            changes += diff_documents(old.get(name), new.get(name), sub)
        return changes
    if _keyed(old) and _keyed(new):
        olds = {item["key"]: item for item in old}
        news = {item["key"]: item for item in new}
        changes = []
        for key in [*olds, *(k for k in news if k not in olds)]:
            changes += diff_documents(olds.get(key), news.get(key), f"{path}[{key}]")
        return changes
    if old != new:
        return [FieldChange(path, old, new)]
    return []


def _keyed(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and "key" in item for item in value
    )


def changes_text(changes: Sequence[FieldChange]) -> list[str]:
    """``path: old -> new`` lines for people (the CLI prints them)."""
    return [f"{c.path}: {_shown(c.old)} -> {_shown(c.new)}" for c in changes]


def _shown(value: Any) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)
