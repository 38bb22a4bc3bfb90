"""Catalog problems: where (``plans[0].charges[2].tiers[1].up_to``) and what.

``CatalogInvalid`` is the one error a catalog load raises; it is a domain
``ValidationError`` (code ``invalid_catalog``) carrying every problem found, so the
API returns them in ``details.issues`` and the CLI prints one per line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from tallybook.domain.errors import ValidationError
from tallybook.domain.pricing.registry import CHARGE_TYPES

Location = tuple[str | int, ...]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHARGE_TAGS = frozenset(CHARGE_TYPES)  # the document's charge types (the one registry)
_CHARGE_TYPES_TEXT = ", ".join(repr(name) for name in list(CHARGE_TYPES)[:-1]) + (
    f" or {list(CHARGE_TYPES)[-1]!r}"
)
_SHOWN_IN_MESSAGE = 10


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    location: str  # "plans[0].charges[2].tiers[1].up_to"; a file position for syntax errors
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class CatalogInvalid(ValidationError):
    """The catalog document has problems; ``issues`` lists every one found."""

    code = "invalid_catalog"

    def __init__(self, issues: Iterable[CatalogIssue]):
        self.issues: list[CatalogIssue] = list(issues)
        shown = "; ".join(str(issue) for issue in self.issues[:_SHOWN_IN_MESSAGE])
        more = len(self.issues) - _SHOWN_IN_MESSAGE
        if more > 0:
            shown += f"; and {more} more"
        count = len(self.issues)
        super().__init__(
            f"invalid catalog ({count} problem{'s' if count != 1 else ''}): {shown}",
            details={
                "issues": [{"location": i.location, "message": i.message} for i in self.issues]
            },
        )


def format_location(location: Sequence[str | int]) -> str:
    """``("plans", 0, "charges", 2, "up_to")`` -> ``plans[0].charges[2].up_to``.

    Names that are not identifiers (dimension values such as ``gpt-4o``) are quoted:
    ``prices_by_dimension["gpt-4o"]``.
    """
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _IDENTIFIER.fullmatch(part):
            text += f'["{part}"]'
        else:
            text += f".{part}" if text else part
    return text


def issues_from_pydantic(error: PydanticValidationError, prefix: Location) -> list[CatalogIssue]:
    return [_issue(detail, prefix) for detail in error.errors(include_url=False)]


def _issue(detail: ErrorDetails, prefix: Location) -> CatalogIssue:
    location = _without_union_tags(tuple(detail["loc"]))
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        location += ("type",)
        got = f", got {ctx['tag']!r}" if "tag" in ctx else ""
        message = f"charge type must be {_CHARGE_TYPES_TEXT}{got}"
    else:
        message = _message(kind, detail, ctx)
    return CatalogIssue(format_location(prefix + location), message)


def _message(kind: str, detail: ErrorDetails, ctx: dict[str, Any]) -> str:
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (not part of the catalog document)"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind == "enum":
        return f"must be {ctx['expected']}, got {detail['input']!r}"
    return str(detail["msg"])


def _without_union_tags(location: Location) -> Location:
    """Drop pydantic's union tag: ``charges, 2, "usage", "tiers"`` -> ``charges, 2, "tiers"``."""
    kept: list[str | int] = []
    for index, part in enumerate(location):
        after_charge_index = (
            index >= 2 and location[index - 2] == "charges" and isinstance(location[index - 1], int)
        )
        if not (after_charge_index and part in _CHARGE_TAGS):
            kept.append(part)
    return tuple(kept)
