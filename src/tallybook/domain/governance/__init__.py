"""Governance rules: the audit chain, roles, catalog changes and price overrides."""
