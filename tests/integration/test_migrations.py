"""The Alembic migrations create exactly the schema the code declares, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.migrate import is_current, upgrade
from tallybook.adapters.store.schema import all_tables


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent: a second start migrates nothing
    assert is_current(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, all_tables())
    engine.dispose()
    assert diff == [], f"migrations and schema differ: {diff}"
