"""Ingest: validate, deduplicate and store usage events; the dead-letter queue."""
