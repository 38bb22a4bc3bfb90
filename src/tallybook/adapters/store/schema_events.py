"""Event-pipeline tables (events, rejected events, meters). Filled in by the ingest work."""

from __future__ import annotations
