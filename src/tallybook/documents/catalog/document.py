"""The catalog document (CONTRACT.md, Catalog): validate it and turn it into the domain.

Public API::

    parse_catalog(data: Mapping) -> Catalog              # already-parsed JSON/YAML data
    load_catalog_text(text, *, filename="<input>") -> Catalog   # YAML or JSON text
    load_catalog_file(path) -> Catalog
    validate_document(data) -> CatalogDocument           # shape + rules, no conversion
    document_to_catalog(document: CatalogDocument) -> Catalog  # rules + conversion
    catalog_to_document(catalog: Catalog) -> dict        # JSON-ready, decimals as strings
    CatalogDocument                                      # pydantic model (PUT /v1/catalog, OpenAPI)
    CatalogInvalid, CatalogIssue                         # errors, code "invalid_catalog"

Validation is two passes, both collecting every problem with its exact location
(``plans[0].charges[2].tiers[1].up_to``): the pydantic models check each field (types,
unknown fields, signs, decimal places, currency), then ``checks`` checks the rules that
relate fields (tier order, model fields, meter references, duplicate keys).

**Scenario files.** The worked examples in ``shared/examples/*.yaml`` hold a catalog under
a ``catalog:`` key next to other keys (customers, steps). When the data has a ``catalog``
key and neither ``meters`` nor ``plans``, that section is validated and locations start
with ``catalog.``; any other top-level key of a pure catalog is an unknown field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from tallybook.documents.catalog.checks import check_document
from tallybook.documents.catalog.convert import catalog_to_document, to_domain
from tallybook.documents.catalog.issues import (
    CatalogInvalid,
    CatalogIssue,
    Location,
    format_location,
    issues_from_pydantic,
)
from tallybook.documents.catalog.loading import read_text
from tallybook.documents.catalog.models import (
    CatalogDocument,
    FlatChargeDocument,
    MeterDocument,
    PlanDocument,
    PriceDocument,
    TierDocument,
    UsageChargeDocument,
)
from tallybook.domain.catalog.model import Catalog

__all__ = [
    "CatalogDocument",
    "CatalogInvalid",
    "CatalogIssue",
    "FlatChargeDocument",
    "MeterDocument",
    "PlanDocument",
    "PriceDocument",
    "TierDocument",
    "UsageChargeDocument",
    "catalog_section",
    "catalog_to_document",
    "document_to_catalog",
    "load_catalog_file",
    "load_catalog_text",
    "parse_catalog",
    "validate_document",
]


def parse_catalog(data: Mapping[str, Any]) -> Catalog:
    """Validate a catalog document (or a scenario file's ``catalog`` section) into the domain.

    Raises ``CatalogInvalid`` listing every problem found.
    """
    return to_domain(validate_document(data))


def validate_document(data: Mapping[str, Any]) -> CatalogDocument:
    """The checked pydantic document, for callers that want it rather than the domain."""
    section, prefix = catalog_section(data)
    document = _validate_shape(section, prefix)
    _raise_if_any(check_document(document, prefix))
    return document


def document_to_catalog(document: CatalogDocument) -> Catalog:
    """Check the cross-field rules of an already shape-valid document and convert it.

    Use this after a framework (FastAPI) has validated a ``CatalogDocument`` body.
    """
    _raise_if_any(check_document(document))
    return to_domain(document)


def load_catalog_text(text: str, *, filename: str = "<input>") -> Catalog:
    """Parse YAML or JSON text holding a catalog document (or a scenario file)."""
    data = read_text(text, filename)
    if not isinstance(data, Mapping):
        raise CatalogInvalid(
            [CatalogIssue(filename, "a catalog document must be a mapping with meters and plans")]
        )
    return parse_catalog(data)


def load_catalog_file(path: str | os.PathLike[str]) -> Catalog:
    """Read and parse a catalog file (``.yaml``, ``.yml`` or ``.json``; the content decides)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogInvalid([CatalogIssue(str(path), f"cannot read the file: {exc}")]) from None
    return load_catalog_text(text, filename=str(path))


def catalog_section(data: Mapping[str, Any]) -> tuple[Any, Location]:
    """The catalog part of ``data`` and its location prefix (``catalog`` for scenario files)."""
    if "catalog" in data and "meters" not in data and "plans" not in data:
        return data["catalog"], ("catalog",)
    return data, ()


def _validate_shape(section: Any, prefix: Location) -> CatalogDocument:
    if not isinstance(section, Mapping):
        where = format_location(prefix) or "<document>"
        raise CatalogInvalid(
            [CatalogIssue(where, "a catalog document must be a mapping with meters and plans")]
        )
    try:
        return CatalogDocument.model_validate(section)
    except PydanticValidationError as exc:
        raise CatalogInvalid(issues_from_pydantic(exc, prefix)) from None


def _raise_if_any(issues: list[CatalogIssue]) -> None:
    if issues:
        raise CatalogInvalid(issues)
