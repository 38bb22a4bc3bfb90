"""Catalog values: meters, plans, charges and prices (frozen dataclasses)."""
