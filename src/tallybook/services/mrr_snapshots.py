"""The overview's MRR snapshot: 12 months of MRR with movements and the main currency's
retention, computed off the request path and stored (issue 14).

MRR at 10,000 customers takes seconds (``AnalyticsService.mrr`` reads every
subscription's months), so the console never computes it in a page request: the
scheduler refreshes each tenant's snapshot when it is missing, older than ``max_age``
(an hour) or older than a final invoice (so a billing run's invoices show at the next
scheduler pass), an operator may refresh it on demand, and the console shows it with
its "as of" time. This is how subscription analytics products treat MRR (Baremetrics,
ChartMogul: a periodic computation, not a live query).

The stored figures are exactly ``AnalyticsService.mrr(tenant, first, last)`` for the 12
months ending in the month of the computation, and ``AnalyticsService.retention`` over
the same window in the main currency (the one with the most MRR in the last month).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tallybook.domain.analytics.months import Month
from tallybook.domain.analytics.mrr import MonthTotals, Movements
from tallybook.domain.analytics.retention import Retention
from tallybook.domain.errors import TallybookError
from tallybook.services.analytics import AnalyticsService, MrrRow
from tallybook.services.ports import Clock, MrrSnapshotStore, StoredSnapshot

log = logging.getLogger("tallybook.mrr_snapshots")
MONTHS = 12
MAX_AGE = timedelta(hours=1)
_RETENTION_FIELDS = (
    "start_mrr",
    "end_mrr",
    "nrr",
    "grr",
    "logo_churn",
    "gross_revenue_churn",
    "net_revenue_churn",
)


@dataclass(frozen=True, slots=True)
class MrrSnapshot:
    """A tenant's MRR figures as of ``computed_at``: ``rows`` are
    ``AnalyticsService.mrr`` over ``first``..``last``; ``retention`` is over the same
    window in ``currency`` (the main currency; None without MRR rows, and retention None
    when it is undefined)."""

    computed_at: datetime
    first: Month
    last: Month
    rows: list[MrrRow]
    currency: str | None
    retention: Retention | None


def window(now: datetime) -> tuple[Month, Month]:
    """The ``MONTHS`` months ending with the month holding ``now``."""
    last = Month.of(now)
    return last.plus(-(MONTHS - 1)), last


def main_currency(rows: list[MrrRow], last: Month) -> str | None:
    """The currency with the most MRR in ``last`` (of any month when ``last`` has no
    row); None without rows."""
    if not rows:
        return None
    latest = [r for r in rows if r.month == last]
    return max(latest or rows, key=lambda r: r.totals.mrr).currency


class MrrSnapshotService:
    """Computes, stores and reads the tenant's MRR snapshot."""

    def __init__(
        self,
        analytics: AnalyticsService,
        store: MrrSnapshotStore,
        clock: Clock,
        *,
        max_age: timedelta = MAX_AGE,
    ):
        self._analytics = analytics
        self._store = store
        self._clock = clock
        self.max_age = max_age
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def compute(self, tenant_id: str) -> MrrSnapshot:
        """The snapshot as of now (not stored)."""
        now = self._clock.now()
        first, last = window(now)
        rows = self._analytics.mrr(tenant_id, first, last)
        currency = main_currency(rows, last)
        retention = None
        if currency is not None:
            try:
                retention = self._analytics.retention(tenant_id, first, last, currency).retention
            except TallybookError:
                retention = None
        return MrrSnapshot(now, first, last, rows, currency, retention)

    def refresh(self, tenant_id: str) -> MrrSnapshot:
        """Compute the snapshot now and store it (replacing the previous one)."""
        snapshot = self.compute(tenant_id)
        self._store.put(tenant_id, StoredSnapshot(snapshot.computed_at, _document(snapshot)))
        return snapshot

    def get(self, tenant_id: str) -> MrrSnapshot | None:
        """The stored snapshot; None before the first computation."""
        stored = self._store.get(tenant_id)
        return None if stored is None else _snapshot(stored)

    def computing(self, tenant_id: str) -> bool:
        """True while a background refresh of the tenant runs in this process."""
        with self._lock:
            running = self._running.get(tenant_id)
            return running is not None and running.is_alive()

    def refresh_in_background(self, tenant_id: str) -> threading.Thread:
        """Start refreshing the tenant's snapshot in a daemon thread, unless one runs
        already in this process; returns the running thread (join it to wait)."""
        with self._lock:
            running = self._running.get(tenant_id)
            if running is not None and running.is_alive():
                return running
            thread = threading.Thread(
                target=self._refresh_quietly, args=(tenant_id,), daemon=True, name="mrr-snapshot"
            )
            self._running[tenant_id] = thread
            thread.start()
            return thread

    def wait(self, timeout: float = 60.0) -> None:
        """Wait (up to ``timeout`` seconds each) for the background refreshes running in
        this process: before closing the store, and in tests."""
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join(timeout)

    def refresh_due(self) -> list[str]:
        """The scheduled job: refresh every tenant whose snapshot is missing, older than
        ``max_age`` or older than a final invoice. A tenant that fails is logged and the
        pass goes on. Returns the tenants refreshed."""
        done = []
        for tenant_id in self._store.stale_tenants(self._clock.now() - self.max_age):
            if self._refresh_quietly(tenant_id):
                done.append(tenant_id)
        return done

    def _refresh_quietly(self, tenant_id: str) -> bool:
        try:
            self.refresh(tenant_id)
        except Exception as exc:  # a background job: log, never raise into the loop
            log.exception(
                "MRR snapshot failed", extra={"tenant": tenant_id, "error": type(exc).__name__}
            )
            return False
        return True


def _document(snapshot: MrrSnapshot) -> dict[str, Any]:
    retention = snapshot.retention
    return {
        "first": str(snapshot.first),
        "last": str(snapshot.last),
        "currency": snapshot.currency,
        "rows": [
            {
                "month": str(r.month),
                "currency": r.currency,
                "committed": str(r.totals.committed),
                "usage": str(r.totals.usage),
                "customers": r.totals.customers,
                "movements": {k: str(v) for k, v in r.totals.movements.as_dict().items()},
            }
            for r in snapshot.rows
        ],
        "retention": None
        if retention is None
        else {
            "customers": retention.customers,
            **{
                name: None if getattr(retention, name) is None else str(getattr(retention, name))
                for name in _RETENTION_FIELDS
            },
        },
    }


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _snapshot(stored: StoredSnapshot) -> MrrSnapshot:
    doc = stored.document
    rows = [
        MrrRow(
            Month.parse(r["month"]),
            r["currency"],
            MonthTotals(
                Decimal(r["committed"]),
                Decimal(r["usage"]),
                int(r["customers"]),
                Movements(**{k: Decimal(v) for k, v in r["movements"].items()}),
            ),
        )
        for r in doc["rows"]
    ]
    kept = doc["retention"]
    retention = None
    if kept is not None:
        start, end = Decimal(kept["start_mrr"]), Decimal(kept["end_mrr"])
        retention = Retention(
            int(kept["customers"]),
            start,
            end,
            *(_decimal(kept[name]) for name in _RETENTION_FIELDS[2:]),
        )
    return MrrSnapshot(
        stored.computed_at,
        Month.parse(doc["first"]),
        Month.parse(doc["last"]),
        rows,
        doc["currency"],
        retention,
    )
