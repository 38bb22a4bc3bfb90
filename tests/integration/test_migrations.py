"""The Alembic migrations create exactly the schema the code declares, on both stores."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.migrate import is_current, upgrade
from tallybook.adapters.store.schema import all_tables

_PARTITION = re.compile(r"^events_(p\d{6}|default)$")


def _not_a_partition(name: str | None, kind: str, parents: dict[str, Any]) -> bool:
    """The monthly partitions of ``events`` (PostgreSQL, 0019) are made at run time, not
    declared, and its partition column ``ledger_month`` exists on PostgreSQL only: leave
    them (and the partitions' indexes) out of the comparison."""
    if kind == "column" and name == "ledger_month":
        return False
    table = name if kind == "table" else parents.get("table_name")
    return not (table and _PARTITION.match(str(table)))


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent: a second start migrates nothing
    assert is_current(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_name": _not_a_partition}
        )
        diff = compare_metadata(context, all_tables())
    engine.dispose()
    assert diff == [], f"migrations and schema differ: {diff}"
