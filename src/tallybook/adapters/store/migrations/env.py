"""Alembic environment: always driven programmatically by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context

from tallybook.adapters.store.schema import all_tables

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded misuse
    raise RuntimeError("run migrations through tallybook.adapters.store.migrate.upgrade()")

context.configure(
    connection=connection,
    target_metadata=all_tables(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
