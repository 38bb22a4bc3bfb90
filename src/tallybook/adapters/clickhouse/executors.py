"""Two executors of the same ClickHouse SQL: chDB in-process and clickhouse-connect.

Statements carry ClickHouse's typed parameters (``{name:Type}``); both executors bind
them on the engine's side (no values are spliced into SQL text). Results come back as
rows of Python values: strings, integers, lists and None (queries return decimals as
``toString`` text, so no driver turns one into a float).

- ``ChdbExecutor``: the ClickHouse engine in this process (``chdb`` on PyPI), for tests
  and single-node trials. chDB allows ONE data path per process; several executors share
  it, each with its own database. Calls are serialised by a lock.
- ``ConnectExecutor``: a ClickHouse server or cluster over HTTP (``clickhouse-connect``).

``executor_for_url`` reads ``TALLYBOOK_EVENTS_URL``: ``chdb:///path/to/dir`` (optionally
``?database=name``) or
``clickhouse://user:password@host:8123/database`` (``clickhouses://`` for TLS).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from tallybook.adapters.clickhouse.schema import create_statements, quote_name
from tallybook.domain.errors import StoreUnavailable

Params = dict[str, Any]


class Executor(Protocol):
    """Runs ClickHouse statements; ``database`` names the tallybook tables' database."""

    database: str

    def query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """Rows of a SELECT; ``StoreUnavailable`` when the engine fails."""
        ...

    def command(self, sql: str) -> None:
        """A statement without rows (DDL)."""
        ...

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        """Insert ``rows`` (JSONEachRow objects) into ``database.table`` as one block with
        ``insert_deduplication_token = token``: the same token again inserts nothing."""
        ...

    def close(self) -> None: ...


def ensure_schema(executor: Executor) -> None:
    """Create the database and the events table when missing."""
    for statement in create_statements(executor.database):
        executor.command(statement)


def _insert_sql(database: str, table: str, token: str) -> str:
    return (
        f"INSERT INTO {quote_name(database)}.{quote_name(table)} "
        f"SETTINGS insert_deduplication_token = {_quoted(token)} FORMAT JSONEachRow"
    )


def _quoted(text: str) -> str:
    """A ClickHouse string literal (used for the dedup token, which is our own id)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ChdbExecutor:
    """chDB: the ClickHouse engine in this process, data under ``path``."""

    _lock = threading.Lock()

    def __init__(self, path: str, database: str = "tallybook"):
        import chdb  # the optional extra: imported only when configured

        quote_name(database)
        self.database = database
        self._conn = chdb.connect(path)  # type: ignore[no-untyped-call]

    def query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` with ``params`` bound by chDB (ClickHouse's escaped text form)."""
        text = {k: _param_text(v) for k, v in (params or {}).items()}
        try:
            with self._lock:
                result = self._conn.query(sql, "JSONCompact", params=text)
                raw = result.bytes()
        except Exception as exc:  # chDB raises RuntimeError subclasses for engine errors
            raise StoreUnavailable(f"ClickHouse (chDB) query failed: {exc}") from exc
        if not raw:
            return []
        return [tuple(r) for r in orjson.loads(raw)["data"]]

    def command(self, sql: str) -> None:
        try:
            with self._lock:
                self._conn.query(sql, "CSV")
        except Exception as exc:
            raise StoreUnavailable(f"ClickHouse (chDB) statement failed: {exc}") from exc

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        if not rows:
            return
        body = b"\n".join(orjson.dumps(r) for r in rows).decode()
        self.command(f"{_insert_sql(self.database, table, token)} {body}")

    def close(self) -> None:
        """Leaves the process-wide chDB connection open (other executors may share it)."""


def _param_text(value: Any) -> str:
    """A parameter as chDB reads it: a scalar in ClickHouse's escaped text form, an array
    as its literal of quoted strings (checked with quotes, backslashes, tabs, newlines in
    ``test_clickhouse_events.py``)."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(str(v)) for v in value) + "]"
    if isinstance(value, bool):
        return "1" if value else "0"
    return _escaped(str(value))


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class ConnectExecutor:
    """A ClickHouse server or cluster over HTTP (``clickhouse-connect``)."""

    def __init__(self, client: Any, database: str):
        quote_name(database)
        self.database = database
        self._client = client
        self._lock = threading.Lock()  # one HTTP session: no concurrent queries on it

    @classmethod
    def from_url(cls, url: str) -> ConnectExecutor:
        """``clickhouse[s]://user:password@host:port/database``."""
        import clickhouse_connect

        parts = urlsplit(url)
        secure = parts.scheme == "clickhouses"
        database = parts.path.strip("/") or "tallybook"
        client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if secure else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=secure,
        )
        return cls(client, database)

    def query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                result = self._client.query(sql, parameters=params or {})
        except Exception as exc:
            raise StoreUnavailable(f"ClickHouse query failed: {exc}") from exc
        return [tuple(r) for r in result.result_rows]

    def command(self, sql: str) -> None:
        try:
            with self._lock:
                self._client.command(sql)
        except Exception as exc:
            raise StoreUnavailable(f"ClickHouse statement failed: {exc}") from exc

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        if not rows:
            return
        body = b"\n".join(orjson.dumps(r) for r in rows)
        try:
            with self._lock:
                self._client.raw_insert(
                    f"{quote_name(self.database)}.{quote_name(table)}",
                    insert_block=body,
                    settings={"insert_deduplication_token": token},
                    fmt="JSONEachRow",
                )
        except Exception as exc:
            raise StoreUnavailable(f"ClickHouse insert failed: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def executor_for_url(url: str) -> Executor:
    """The executor of ``TALLYBOOK_EVENTS_URL`` (``chdb://PATH`` or ``clickhouse://...``)."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError("chdb:// needs a directory: chdb:///var/lib/tallybook/events")
        database = dict(parse_qsl(parts.query)).get("database", "tallybook")
        return ChdbExecutor(path, database)
    if parts.scheme in ("clickhouse", "clickhouses"):
        return ConnectExecutor.from_url(url)
    raise ValueError(f"events URL must be chdb://PATH or clickhouse://HOST, got {parts.scheme!r}")
