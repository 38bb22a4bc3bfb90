"""Warehouse exports: ``tallybook export --to parquet DIR [--since INSTANT]``.

Writes the tenant's events, customers, subscriptions, invoices and invoice lines as
Parquet files (pyarrow), one new file per table and run:
``DIR/<table>/<tenant>-<until>.parquet``. Each run exports the rows changed in
``[watermark, until)`` where ``until`` is the run's start and the watermark is the
previous run's ``until``, kept per tenant in ``DIR/_watermarks.json``; ``--since``
overrides it. An invoice whose status changed is exported again: the warehouse keeps the
row with the latest ``updated_at`` per ``id``.

Types: instants are ``timestamp[us, UTC]``; money and quantities are decimal *strings*
(exact, any scale); JSON documents (event properties, schedules) are JSON strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tallybook.services.ports import Clock, ExportKind, ExportStore

WATERMARKS = "_watermarks.json"
LINE_FIELDS = (
    ("invoice_id", pa.string()),
    ("line", pa.int32()),
    ("type", pa.string()),
    ("charge", pa.string()),
    ("description", pa.string()),
    ("quantity", pa.string()),
    ("unit_amount", pa.string()),
    ("amount", pa.string()),
    ("used", pa.string()),
    ("included", pa.string()),
    ("period_start", pa.timestamp("us", tz="UTC")),
    ("period_end", pa.timestamp("us", tz="UTC")),
    ("customer", pa.string()),
    ("subscription", pa.string()),
    ("dimension", pa.string()),
)


@dataclass(frozen=True, slots=True)
class TableExport:
    table: str
    rows: int
    path: Path | None


class ExportService:
    def __init__(self, store: ExportStore, clock: Clock):
        self._store = store
        self._clock = clock

    def to_parquet(
        self,
        tenant_id: str,
        directory: Path,
        *,
        since: datetime | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> list[TableExport]:
        """Export every table's rows changed since the watermark (or ``since``)."""
        directory.mkdir(parents=True, exist_ok=True)
        marks = _read_marks(directory)
        until = self._clock.now()
        stamp = until.strftime("%Y%m%dT%H%M%S%fZ")
        done = []
        for name in self._store.tables():
            start = since if since is not None else _mark(marks, tenant_id, name)
            schema = self._schema(name)
            path = directory / name / f"{tenant_id}-{stamp}.parquet"
            count = _write(path, schema, self._rows(tenant_id, name, start, until, schema))
            done.append(TableExport(name, count, path if count else None))
            if name == "invoices":
                lines = directory / "invoice_lines" / f"{tenant_id}-{stamp}.parquet"
                line_schema = pa.schema(LINE_FIELDS)
                count_lines = _write(
                    lines, line_schema, self._lines(tenant_id, start, until, line_schema)
                )
                done.append(
                    TableExport("invoice_lines", count_lines, lines if count_lines else None)
                )
            if progress is not None:
                progress(name, count)
        for name in (*self._store.tables(), "invoice_lines"):
            marks.setdefault(tenant_id, {})[name] = until.isoformat()
        (directory / WATERMARKS).write_text(json.dumps(marks, indent=2, sort_keys=True))
        return done

    def _schema(self, name: str) -> pa.Schema:
        return pa.schema(
            [pa.field(column.name, _kind(column.kind)) for column in self._store.columns(name)]
        )

    def _rows(
        self, tenant_id: str, name: str, since: datetime | None, until: datetime, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        for batch in self._store.batches(tenant_id, name, since, until):
            rows = [{f.name: _cell(row.get(f.name), f.type) for f in schema} for row in batch]
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    def _lines(
        self, tenant_id: str, since: datetime | None, until: datetime, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        for batch in self._store.batches(tenant_id, "invoices", since, until):
            rows = []
            for invoice in batch:
                for index, line in enumerate(invoice["lines"] or []):
                    record = {"invoice_id": invoice["id"], "line": index, **line}
                    rows.append({f.name: _cell(record.get(f.name), f.type) for f in schema})
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _kind(kind: ExportKind) -> pa.DataType:
    if kind == "instant":
        return pa.timestamp("us", tz="UTC")
    if kind == "integer":
        return pa.int64()
    return pa.string()  # text, decimals (exact, as strings) and JSON documents


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind):
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if pa.types.is_integer(kind):
        return int(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _write(path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> int:
    count = 0
    writer = None
    try:
        for batch in batches:
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(str(path), schema)
            writer.write_batch(batch)
            count += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return count


def _read_marks(directory: Path) -> dict[str, dict[str, str]]:
    path = directory / WATERMARKS
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _mark(marks: Mapping[str, Mapping[str, str]], tenant_id: str, name: str) -> datetime | None:
    text = marks.get(tenant_id, {}).get(name)
    return None if text is None else datetime.fromisoformat(text)
