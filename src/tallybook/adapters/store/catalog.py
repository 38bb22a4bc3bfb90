"""Catalog repository: meter documents and immutable plan versions, per tenant.

Reads are plain queries. Changes go through ``CatalogStore.transaction(tenant)``, one
transaction that reads the current state and writes the new one: SQLite serialises it
with ``BEGIN IMMEDIATE`` and PostgreSQL with a per-tenant advisory lock, so two applies
of the same tenant never both publish version ``n + 1`` (the primary key would refuse it
anyway).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, text, update

from tallybook.adapters.store.failures import translated
from tallybook.adapters.store.schema_catalog import meters, plan_versions, plans
from tallybook.adapters.store.types import from_micros

JsonDict = dict[str, Any]
_CATALOG_LOCK_SPACE = 724_119_003


@dataclass(frozen=True, slots=True)
class PlanVersionRow:
    key: str
    version: int
    definition: JsonDict
    created_at: datetime


def _lock_key(tenant_id: str) -> int:
    digest = hashlib.blake2b(tenant_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


_METER_SQL = "SELECT definition FROM meters WHERE tenant_id = :t AND key = :k"
_LATEST_SQL = "SELECT latest_version FROM plans WHERE tenant_id = :t AND key = :k"
_VERSION_SQL = (
    "SELECT definition, created_at FROM plan_versions "
    "WHERE tenant_id = :t AND key = :k AND version = :v"
)


class CatalogReads:
    """Queries shared by plain reads and by a transaction (same connection)."""

    def __init__(self, conn: Connection, tenant_id: str):
        self._conn = conn
        self._tenant = tenant_id

    def meter_documents(self) -> dict[str, JsonDict]:
        stmt = (
            select(meters.c.key, meters.c.definition)
            .where(meters.c.tenant_id == self._tenant)
            .order_by(meters.c.key)
        )
        return {row.key: row.definition for row in self._conn.execute(stmt)}

    def latest_plans(self) -> dict[str, PlanVersionRow]:
        join = plans.join(
            plan_versions,
            and_(
                plan_versions.c.tenant_id == plans.c.tenant_id,
                plan_versions.c.key == plans.c.key,
                plan_versions.c.version == plans.c.latest_version,
            ),
        )
        stmt = (
            select(plan_versions)
            .select_from(join)
            .where(plans.c.tenant_id == self._tenant)
            .order_by(plans.c.key)
        )
        return {
            row.key: PlanVersionRow(row.key, row.version, row.definition, row.created_at)
            for row in self._conn.execute(stmt)
        }

    def versions(self, key: str) -> list[PlanVersionRow]:
        if "\x00" in key:
            return []  # no stored key holds a NUL (and PostgreSQL refuses them)
        stmt = (
            select(plan_versions)
            .where(plan_versions.c.tenant_id == self._tenant, plan_versions.c.key == key)
            .order_by(plan_versions.c.version)
        )
        return [
            PlanVersionRow(key, row.version, row.definition, row.created_at)
            for row in self._conn.execute(stmt)
        ]


class CatalogWrites(CatalogReads):
    """Reads and writes inside one catalog transaction."""

    def upsert_meter(self, key: str, definition: JsonDict, now: datetime, *, exists: bool) -> None:
        if exists:
            self._conn.execute(
                update(meters)
                .where(meters.c.tenant_id == self._tenant, meters.c.key == key)
                .values(definition=definition, updated_at=now)
            )
        else:
            self._conn.execute(
                insert(meters).values(
                    tenant_id=self._tenant,
                    key=key,
                    definition=definition,
                    created_at=now,
                    updated_at=now,
                )
            )

    def publish_plan(self, key: str, version: int, definition: JsonDict, now: datetime) -> None:
        """Add ``version`` (1 for a new plan) and make it the latest."""
        if version == 1:
            self._conn.execute(
                insert(plans).values(
                    tenant_id=self._tenant,
                    key=key,
                    latest_version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            self._conn.execute(
                update(plans)
                .where(plans.c.tenant_id == self._tenant, plans.c.key == key)
                .values(latest_version=version, updated_at=now)
            )
        self._conn.execute(
            insert(plan_versions).values(
                tenant_id=self._tenant,
                key=key,
                version=version,
                definition=definition,
                created_at=now,
            )
        )


class CatalogStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    # -- hot single-row reads: raw driver connection, no ORM and, on SQLite, no write
    # -- lock (the engine opens every SQLAlchemy transaction with BEGIN IMMEDIATE) --------

    def meter_document(self, tenant_id: str, key: str) -> JsonDict | None:
        row = self._one(_METER_SQL, {"t": tenant_id, "k": key})
        return None if row is None else self._json(row[0])

    def latest_version(self, tenant_id: str, key: str) -> int | None:
        row = self._one(_LATEST_SQL, {"t": tenant_id, "k": key})
        return None if row is None else int(row[0])

    def plan_version(self, tenant_id: str, key: str, version: int) -> PlanVersionRow | None:
        row = self._one(_VERSION_SQL, {"t": tenant_id, "k": key, "v": version})
        if row is None:
            return None
        return PlanVersionRow(key, version, self._json(row[0]), from_micros(int(row[1])))

    def _one(self, sql: str, params: dict[str, Any]) -> Any:
        if any(isinstance(v, str) and "\x00" in v for v in params.values()):
            return None  # no stored key holds a NUL (and PostgreSQL refuses them)
        if self._postgres:
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        with translated():  # raw driver errors and failed pool connects: 503
            raw = self._engine.raw_connection()
            return self._one_raw(raw, sql, params)

    def _one_raw(self, raw: Any, sql: str, params: dict[str, Any]) -> Any:
        driver: Any = raw.dbapi_connection
        try:
            if self._postgres:
                driver.autocommit = True  # one round trip: no BEGIN/ROLLBACK around a read
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()
        finally:
            if self._postgres and not driver.closed:
                driver.autocommit = False
            raw.close()

    def _json(self, value: Any) -> JsonDict:
        document: JsonDict = json.loads(value) if isinstance(value, str | bytes) else value
        return document

    @contextmanager
    def reads(self, tenant_id: str) -> Iterator[CatalogReads]:
        with self._engine.connect() as conn:
            yield CatalogReads(conn, tenant_id)

    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[CatalogWrites]:
        """One serialised read-then-write transaction over the tenant's catalog."""
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:space, :key)"),
                    {"space": _CATALOG_LOCK_SPACE, "key": _lock_key(tenant_id)},
                )
            yield CatalogWrites(conn, tenant_id)
