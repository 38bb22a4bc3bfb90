"""Catalog tables (meters, plans, plan versions). Filled in by the catalog work."""

from __future__ import annotations
