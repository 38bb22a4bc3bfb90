"""Reconciliation runs: every finalized, paid or void invoice finalized in a window,
compared with the provider by id and metadata (``domain.payments.classify``).

The provider side is every remote invoice created since the window's start that carries
the tenant's ``tallybook_tenant`` metadata (a push always comes after finalization, so a
window's invoices were created remotely after its start). A remote invoice is matched to
the local one its ``tallybook_invoice`` names; a second one naming the same invoice, or
one naming an invoice that does not exist (or is a draft), is an ``orphan_remote``.

Read-only unless ``fix``: then each row's action is carried out (push the missing, pull
the paid status, void orphans and remote invoices voided here) and recorded as
``applied``; amount mismatches are never touched. A run with drift writes a
``reconciliation.drift`` outbox message in the run's own transaction. The scheduler runs
one per tenant a day (``run_due``) over the last ``window_days``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from tallybook.domain.billing.numbering import format_number
from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.ids import new_id_at
from tallybook.domain.payments import (
    Action,
    Category,
    LocalSide,
    RemoteSide,
    classify,
    drift_message,
    idempotency_key,
)
from tallybook.services.pagination import check_limit
from tallybook.services.ports import (
    Clock,
    LocalInvoice,
    PaymentProvider,
    ProviderError,
    ReconciliationRow,
    ReconciliationRun,
    ReconciliationStore,
    RemoteInvoice,
    SyncStore,
)
from tallybook.services.sync.push import SyncService
from tallybook.services.sync.webhook import ProviderWebhooks

log = logging.getLogger("tallybook.reconciliation")
ZERO = Decimal(0)
MAX_WINDOW = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    """``window_days``: how far back the daily run looks; ``every``: how often it runs."""

    window_days: int = 35
    every: timedelta = timedelta(days=1)


class ReconciliationService:
    def __init__(
        self,
        provider: PaymentProvider,
        sync: SyncService,
        webhooks: ProviderWebhooks,
        sync_store: SyncStore,
        store: ReconciliationStore,
        clock: Clock,
        options: ReconcileOptions | None = None,
    ):
        self._provider = provider
        self._sync = sync
        self._webhooks = webhooks
        self._sync_store = sync_store
        self.store = store
        self._clock = clock
        self.options = options or ReconcileOptions()

    @property
    def provider_name(self) -> str:
        return self._provider.name

    # -- runs --------------------------------------------------------------------------

    def run(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        fix: bool = False,
        trigger: str = "api",
        progress: Callable[[int], None] | None = None,
    ) -> ReconciliationRun:
        """Compare, store and (``fix``) repair one window ``[start, end)``; ``progress(n)``
        after each local invoice. Raises ``ValidationError`` (``invalid_window``) and
        ``ProviderError`` when the provider's invoices cannot be listed (nothing is stored
        then)."""
        if not start < end or end - start > MAX_WINDOW:
            raise ValidationError(
                "from must be before to, at most 400 days apart",
                code="invalid_window",
                details={"max_days": MAX_WINDOW.days},
            )
        remote = self._remote_by_invoice(tenant_id, start)
        stored = self._sync_store.remote_ids(self._provider.name, tenant_id)
        rows: list[ReconciliationRow] = []
        for local in self._locals(tenant_id, start, end):
            found = remote.pop(local.id, [])
            found.sort(key=lambda r: (r.id != stored.get(local.id), r.created, r.id))
            if not found and local.id in stored:
                found = self._fetch(stored[local.id])
            rows.append(self._row(local, found[0] if found else None))
            rows.extend(self._row(None, extra) for extra in found[1:])
            if progress is not None:
                progress(1)
        rows.extend(self._orphans(tenant_id, remote))
        if fix:
            rows = [self._apply(tenant_id, row) for row in rows]
        run = self._summary(tenant_id, start, end, fix, trigger, rows)
        messages = []
        if _drifts(run):
            messages.append(
                drift_message(
                    run_id=run.id,
                    provider=run.provider,
                    start=start,
                    end=end,
                    checked=run.checked,
                    ok=run.ok,
                    counts=run.counts,
                    drift=run.drift,
                    at=run.created_at,
                )
            )
        self.store.save(tenant_id, run, rows, messages)
        return run

    def run_due(self) -> None:
        """The scheduler's job: a run per tenant whose last scheduled one is a day old."""
        now = self._clock.now()
        last = {t: r.created_at for t, r in self.store.latest(self._provider.name, "schedule")}
        for tenant_id in self._sync_store.tenants(self._provider.name):
            if tenant_id in last and now - last[tenant_id] < self.options.every:
                continue
            start = now - timedelta(days=self.options.window_days)
            try:
                self.run(tenant_id, start, now, trigger="schedule")
            except ProviderError as exc:
                log.warning(
                    "scheduled reconciliation failed",
                    extra={"tenant": tenant_id, "error": f"{exc.code}: {exc.message}"},
                )

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun:
        run = self.store.get(tenant_id, run_id)
        if run is None:
            raise NotFound(
                f"no reconciliation run {run_id!r}",
                code="reconciliation_run_not_found",
                details={"id": run_id},
            )
        return run

    def rows(
        self, tenant_id: str, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[tuple[int, ReconciliationRow]]:
        self.get(tenant_id, run_id)
        if limit is not None:
            check_limit(limit)
        return self.store.rows(tenant_id, run_id, after=after, limit=limit)

    # -- pieces ------------------------------------------------------------------------

    def _locals(self, tenant_id: str, start: datetime, end: datetime) -> Iterator[LocalInvoice]:
        after: int | None = None
        while True:
            page = self.store.final_invoices(tenant_id, start, end, after=after, limit=1000)
            yield from page
            if len(page) < 1000:
                return
            after = page[-1].number

    def _remote_by_invoice(self, tenant_id: str, start: datetime) -> dict[str, list[RemoteInvoice]]:
        found: dict[str, list[RemoteInvoice]] = {}
        for remote in self._provider.invoices_since(tenant_id, start):
            if remote.invoice is not None:
                found.setdefault(remote.invoice, []).append(remote)
        return found

    def _fetch(self, remote_id: str) -> list[RemoteInvoice]:
        try:
            return [self._provider.get_invoice(remote_id)]
        except ProviderError as exc:
            if exc.code == "not_found":
                return []
            raise

    def _orphans(
        self, tenant_id: str, remote: dict[str, list[RemoteInvoice]]
    ) -> list[ReconciliationRow]:
        statuses = self.store.invoice_statuses(tenant_id, sorted(remote))
        rows: list[ReconciliationRow] = []
        for invoice_id in sorted(remote):
            if statuses.get(invoice_id) in ("finalized", "paid", "void"):
                continue  # a final invoice of another window
            rows.extend(self._row(None, r) for r in sorted(remote[invoice_id], key=_created))
        return rows

    def _row(self, local: LocalInvoice | None, remote: RemoteInvoice | None) -> ReconciliationRow:
        local_side = None
        if local is not None:
            number = None if local.number is None else format_number(local.number, local.prefix)
            local_side = LocalSide(local.id, number, local.currency, local.total, local.status)
        remote_side = None
        if remote is not None:
            remote_side = RemoteSide(remote.id, remote.currency, remote.total, remote.status)
        verdict = classify(local_side, remote_side)
        return ReconciliationRow(
            invoice=local.id if local is not None else (remote.invoice if remote else None),
            number=local_side.number if local_side is not None else None,
            currency=local.currency if local is not None else (remote.currency if remote else ""),
            local_total=None if local is None else local.total,
            local_status=None if local is None else local.status,
            remote_id=None if remote is None else remote.id,
            remote_total=None if remote is None else remote.total,
            remote_status=None if remote is None else remote.status,
            category=verdict.category.value,
            drift=verdict.drift,
            action=verdict.action.value,
        )

    def _apply(self, tenant_id: str, row: ReconciliationRow) -> ReconciliationRow:
        action = Action(row.action)
        if action in (Action.NONE, Action.REVIEW):
            return row
        try:
            if action is Action.PUSH and row.invoice is not None:
                synced = self._sync.push_now(tenant_id, row.invoice)
                if synced is None or synced.status.value != "synced":
                    error = "held by another worker" if synced is None else synced.error
                    return replace(row, error=error)
            elif action is Action.MARK_PAID and row.remote_id is not None:
                outcome = self._webhooks.mark_paid(self._provider.get_invoice(row.remote_id))
                if outcome not in ("marked_paid", "already_paid"):
                    return replace(row, error=outcome)
            elif action is Action.VOID_REMOTE and row.remote_id is not None:
                subject = row.invoice or row.remote_id
                key = idempotency_key(tenant_id, subject, "void")
                self._provider.void(row.remote_id, key)
        except ProviderError as exc:
            return replace(row, error=f"{exc.code}: {exc.message}")
        return replace(row, applied=True)

    def _summary(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        fix: bool,
        trigger: str,
        rows: list[ReconciliationRow],
    ) -> ReconciliationRun:
        counts = {c.value: 0 for c in Category}
        drift: dict[str, Decimal] = {}
        for row in rows:
            counts[row.category] += 1
            if row.category != Category.OK.value:
                drift[row.currency] = drift.get(row.currency, ZERO) + row.drift
        now = self._clock.now()
        return ReconciliationRun(
            id=new_id_at("rec", now),
            provider=self._provider.name,
            start=start,
            end=end,
            fix=fix,
            status="succeeded",
            checked=sum(1 for row in rows if row.local_status is not None),
            ok=counts[Category.OK.value],
            counts=counts,
            drift=drift,
            trigger=trigger,
            created_at=now,
        )


def _created(remote: RemoteInvoice) -> tuple[datetime, str]:
    return (remote.created, remote.id)


def _drifts(run: ReconciliationRun) -> bool:
    return any(n for category, n in run.counts.items() if category != Category.OK.value)


def drift_amount(run: ReconciliationRun) -> Decimal | None:
    """The run's drift as one figure when it is in one currency (or none), else None
    (``drift_amounts`` then has it per currency: amounts are never added across
    currencies)."""
    if len(run.drift) > 1:
        return None
    return next(iter(run.drift.values()), ZERO)


def run_json_brief(run: ReconciliationRun) -> dict[str, object]:
    """The summary fields of a run (the webhook's ``data`` and the API's head)."""
    amount = drift_amount(run)
    return {
        "id": run.id,
        "provider": run.provider,
        "status": run.status,
        "from": run.start,
        "to": run.end,
        "fix": run.fix,
        "trigger": run.trigger,
        "checked": run.checked,
        "ok": run.ok,
        "counts": dict(run.counts),
        "drift_amount": amount,
        "drift_amounts": dict(sorted(run.drift.items())),
        "created_at": run.created_at,
    }
