"""Billing runs: close every period ended at or before ``as_of`` into invoices.

A run walks the tenant's *due* accounts (bill-to customers with a subscription whose
next slot is issued at or before ``as_of``) in chunks. Per chunk it

1. reads the subscriptions and works out every usage window their due slots need,
   then reads usage in bulk (one GROUP BY customer query per meter and window shared
   by many customers, ``UsageCache``), outside any write transaction;
2. opens one unit of work (``ports.BillingUnitOfWork``, one transaction): claims the
   accounts, reads their state, recomputes their drafts from scratch (pure domain),
   finalizes those whose grace is over (``issue_at + grace <= as_of``), lets
   ``domain.billing.drafts`` decide the writes and numbering order, takes the numbers
   and tells the unit of work to write; a unique-key race lost to a concurrent run
   (``WriteConflict``) retries the chunk, up to three attempts.

Accounts claimed by a concurrent run are skipped, then retried with a blocking claim at
the end, so the run's ``as_of`` is honoured for every account. Running twice bills
nothing twice: slots already final are never computed again and an unchanged draft is
not rewritten. The server's own schedule calls ``run_due`` with the clock's now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tallybook.domain.billing.accounts import Account, account_drafts, due_slots, slot_usage_queries
from tallybook.domain.billing.adjustments import (
    late_window_start,
    ledger_from_lines,
    lookback_start,
)
from tallybook.domain.billing.drafts import AccountBill, ChunkPlan, Counts, InvoiceWrite
from tallybook.domain.billing.period_lines import UsageQuery
from tallybook.domain.billing.schedule import Slot, SlotKind, next_issue_at
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.errors import TallybookError, ValidationError, WriteConflict
from tallybook.domain.subscriptions.model import Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.billing.invoices import (
    BULK_THRESHOLD,
    QUERY_CUSTOMERS,
    PlanBook,
    UsageCache,
    account_usage,
)
from tallybook.services.commitments import commitment_lines
from tallybook.services.credits import apply_to_drafts, bought_on, grant_entry, settle
from tallybook.services.finance.invoicing import InvoiceFinance
from tallybook.services.finance.parties import InvoiceSettings
from tallybook.services.ports import (
    AccountState,
    BillingStore,
    BillingUnitOfWork,
    Clock,
    PlanReader,
    TaxCalculator,
    UsageReader,
)
from tallybook.services.run_credits import RunCredits, run_credits
from tallybook.services.tenants import TenantService

log = logging.getLogger("tallybook.billing")
CHUNK = 500
FUTURE_TOLERANCE = timedelta(minutes=5)  # as for event timestamps


@dataclass(frozen=True, slots=True)
class RunResult:
    tenant_id: str
    as_of: datetime
    created: int
    updated: int
    finalized: int
    deleted: int
    accounts: int
    subscriptions: int
    failed: int = 0  # accounts left unbilled by an error (logged)


@dataclass(frozen=True, slots=True)
class DuePass:
    """Counts of one scheduled pass (``run_due``): tenants billed and tenants that failed."""

    as_of: datetime
    billed: int
    failed: list[str]


class _Run:
    """State shared by the chunks of one run: catalog and usage caches."""

    def __init__(self, service: BillingService, tenant_id: str, as_of: datetime, grace: timedelta):
        self.tenant_id = tenant_id
        self.as_of = as_of
        self.grace = grace
        self.book = PlanBook(service.plans, tenant_id)
        self.usage = UsageCache(
            service.usage, tenant_id, self.book, service.query_customers, service.bulk_threshold
        )
        self.finance = service.finance_of(tenant_id)


class BillingService:
    def __init__(
        self,
        store: BillingStore,
        plans: PlanReader,
        usage: UsageReader,
        clock: Clock,
        tenants: TenantService,
        chunk_size: int = CHUNK,
        bulk_threshold: int | None = BULK_THRESHOLD,
    ):
        self.store = store
        self.plans = plans
        self.usage = usage
        self.clock = clock
        self._tenants = tenants  # owns the grace period
        self.chunk_size = chunk_size
        # usage reads: customers per query, and how many customers wanting one window
        # make it a whole-tenant query (None: never); see services.billing.invoices.UsageCache
        self.query_customers = QUERY_CUSTOMERS
        self.bulk_threshold = bulk_threshold
        self.last_pass: DuePass | None = None
        # called with (tenant, accounts) after a chunk commits: its finalizations and
        # expiries may have lowered credits (bootstrap wires the top-up check here)
        self.after_chunk: Callable[[str, Sequence[str]], object] | None = None
        self._taxes: TaxCalculator | None = None
        self._settings: InvoiceSettings | None = None

    def finance(self, taxes: TaxCalculator, settings: InvoiceSettings) -> None:
        """Tax the drafts with ``taxes`` (after credits) and snapshot the parties from
        ``settings`` on the invoices that finalize (issue 16)."""
        self._taxes = taxes
        self._settings = settings

    def finance_of(self, tenant_id: str) -> InvoiceFinance | None:
        """The run's taxes and seller (None when not wired: no taxes, no snapshot)."""
        if self._taxes is None or self._settings is None:
            return None
        return InvoiceFinance(
            self._taxes.for_run(tenant_id),
            self._settings.seller(tenant_id),
            self._settings.name(tenant_id),
        )

    def run(
        self,
        tenant_id: str,
        as_of: datetime | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> RunResult:
        """Bill every due account of the tenant as of ``as_of`` (default: now).

        ``progress`` is called with the number of subscriptions each chunk handled.
        """
        as_of = self._check_as_of(as_of)
        run = _Run(
            self, tenant_id, as_of, timedelta(seconds=self._tenants.grace_seconds(tenant_id))
        )
        total, skipped, after = Counts(), [], None
        while True:
            accounts = self.store.due_accounts(tenant_id, as_of, after=after, limit=self.chunk_size)
            if not accounts:
                break
            after = accounts[-1]
            counts, missed = self._chunk_run(run, accounts, skip_locked=True)
            total.add(counts)
            skipped += missed
            run.usage.forget()
            if progress is not None:
                progress(counts.subscriptions)
        for start in range(0, len(skipped), self.chunk_size):
            counts, _ = self._chunk_run(
                run, skipped[start : start + self.chunk_size], skip_locked=False
            )
            total.add(counts)
            if progress is not None:
                progress(counts.subscriptions)
        return _result(tenant_id, as_of, total)

    def _check_as_of(self, as_of: datetime | None) -> datetime:
        """``as_of`` defaults to now and may not be in the future: a run would finalize
        periods that have not happened, and final invoices never change."""
        now = self.clock.now()
        if as_of is None:
            return now
        if as_of > now + FUTURE_TOLERANCE:
            raise ValidationError(
                f"as_of {as_of.isoformat()} is in the future (now is {now.isoformat()})",
                code="as_of_in_future",
                details={"now": now.isoformat()},
            )
        return as_of

    def bill_accounts(self, tenant_id: str, accounts: Sequence[str], as_of: datetime) -> RunResult:
        """Bill some accounts now (a cancellation's final invoice)."""
        run = _Run(
            self, tenant_id, as_of, timedelta(seconds=self._tenants.grace_seconds(tenant_id))
        )
        counts, _ = self._chunk_run(run, list(accounts), skip_locked=False)
        return _result(tenant_id, as_of, counts)

    def count_due(self, tenant_id: str, as_of: datetime) -> int:
        return self.store.count_due_subscriptions(tenant_id, as_of)

    def run_due(self) -> list[RunResult]:
        """The scheduled job: bill every tenant with due subscriptions as of now.

        A tenant whose run fails (a store error, a bug) is logged and counted, and the
        pass goes on with the next tenant: one tenant never stops the others. Returns the
        results of the tenants billed; ``last_pass`` keeps the counts of the pass.
        """
        now = self.clock.now()
        results: list[RunResult] = []
        failed: list[str] = []
        for tenant_id in self.store.due_tenants(now):
            try:
                result = self.run(tenant_id, now)
            except Exception as exc:  # isolate the tenant: log, count, continue
                failed.append(tenant_id)
                log.exception(
                    "billing run failed",
                    extra={"tenant": tenant_id, "error": type(exc).__name__},
                )
                continue
            log.info(
                "billing run",
                extra={
                    "tenant": tenant_id,
                    "invoices_created": result.created,
                    "invoices_finalized": result.finalized,
                    "accounts_failed": result.failed,
                },
            )
            results.append(result)
        self.last_pass = DuePass(now, len(results), failed)
        if failed:
            log.error(
                "billing pass incomplete",
                extra={"tenants_billed": len(results), "tenants_failed": len(failed)},
            )
        return results

    # -- one chunk ----------------------------------------------------------------------

    def _chunk_run(
        self, run: _Run, accounts: list[str], *, skip_locked: bool
    ) -> tuple[Counts, list[str]]:
        stored = self.store.subscriptions_of(run.tenant_id, accounts)
        run.usage.prefetch(self._wanted(run, stored))
        since = _ledger_since(run, stored)
        for attempt in range(3):
            try:
                return self._write_chunk(run, accounts, since, skip_locked)
            except WriteConflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_chunk(
        self, run: _Run, accounts: list[str], since: datetime | None, skip_locked: bool
    ) -> tuple[Counts, list[str]]:
        """One transaction: claim, read, decide, number, write."""
        with self.store.unit_of_work() as uow:
            claimed = uow.claim(run.tenant_id, accounts, skip_locked=skip_locked)
            skipped = [a for a in accounts if a not in claimed]
            states = uow.account_states(run.tenant_id, claimed, since)
            plan = ChunkPlan(self.clock.now())
            credited = []
            bought: dict[str, list[Grant]] = {}  # prepaid commitments' grants, by account
            planned: dict[str, RunCredits] = {}  # plan credits, renewals written now, by account
            for account in sorted(states):
                state = states[account]
                inserts, rewrites = len(plan.inserts), len(plan.rewrites)
                bill = self._work(run, state, bought, planned)
                if bill.failed:
                    planned.pop(account, None)
                plan.add_account(state.drafts, bill)
                plan.counts.accounts += 1
                plan.counts.subscriptions += len(state.subscriptions)
                if (state.credits or bought.get(account) or planned.get(account)) and (
                    not bill.failed
                ):
                    written = plan.inserts[inserts:] + plan.rewrites[rewrites:]
                    credited.append((state, bill, [w for w in written if w.finalize]))
            finals = len(plan.to_number)
            if finals:
                plan.assign_numbers(uow.take_numbers(run.tenant_id, finals))
            uow.write(run.tenant_id, plan)
            _write_credits(uow, run, plan.now, credited, bought, planned)
            uow.commit()
        if self.after_chunk is not None and claimed:
            self.after_chunk(run.tenant_id, sorted(claimed))
        return plan.counts, skipped

    def _wanted(self, run: _Run, stored: list[StoredSubscription]) -> dict[UsageQuery, set[str]]:
        wanted: dict[UsageQuery, set[str]] = {}
        for item in stored:
            sub, through = item.subscription, item.billed_through
            try:
                queries = [
                    query
                    for slot in _due(sub, run, through)
                    for query in slot_usage_queries(sub, slot, run.book, through)
                ]
            except TallybookError:
                continue  # reported (and skipped) when its account is billed
            for query in queries:
                wanted.setdefault(query, set()).add(sub.customer)
        return wanted

    def _work(
        self,
        run: _Run,
        state: AccountState,
        bought: dict[str, list[Grant]],
        planned: dict[str, RunCredits],
    ) -> AccountBill:
        """The account's drafts; an account that cannot be billed (say its plan version
        is gone) is logged and left as it is, so it does not stop the others."""
        try:
            return self._bill(run, state, bought, planned)
        except TallybookError as exc:
            log.error(
                "account not billed",
                extra={"tenant": run.tenant_id, "customer": state.customer.id, "code": exc.code},
            )
        except Exception as exc:  # pure computation failed: a bug; never stop the others
            log.exception(
                "account not billed",
                extra={
                    "tenant": run.tenant_id,
                    "customer": state.customer.id,
                    "code": "internal_error",
                    "error": type(exc).__name__,
                },
            )
        return AccountBill([], [], failed=True)

    def _bill(
        self,
        run: _Run,
        state: AccountState,
        bought: dict[str, list[Grant]],
        planned: dict[str, RunCredits],
    ) -> AccountBill:
        subs = tuple(s.subscription for s in state.subscriptions)
        through = {s.subscription.id: s.billed_through for s in state.subscriptions}
        account = Account(state.customer.id, state.customer.currency, subs, through)
        due = due_slots(account, run.book, run.as_of)
        usage = account_usage(run.usage, account, run.book, due)
        ledger = ledger_from_lines(subs, state.final_lines)
        drafts = account_drafts(account, run.book, usage, ledger, run.as_of)
        credits = run_credits(state, subs, through, run.book, run.as_of, self.clock.now())
        if credits is not None:
            planned[state.customer.id] = credits
        terms = [*state.commitments, *(credits.renewed if credits else ())]
        pending: list[Grant] = []
        if terms:
            drafts, pending = commitment_lines(
                drafts,
                terms,
                state.term_lines,
                {sub.id: sub for sub in subs},
                {grant.id for grant, _ in state.credits},
                run.as_of,
                self.clock.now(),
            )
            bought[state.customer.id] = pending
        decided = [(d, d.issue_at + run.grace <= run.as_of) for d in drafts]
        decided = apply_to_drafts(
            decided,
            [
                *state.credits,
                *((g, g.amount) for g in pending),
                *((g, g.amount) for g in (credits.granted if credits else ())),
            ],
            credits.closers if credits else None,
        )
        if run.finance is not None:  # credits and commitments first, then taxes (issue 16)
            decided = run.finance.apply(state.customer, subs, run.book, decided)
        new_through = dict(through)
        for sub, slot in due:  # an adjustment slot is done past its grace, invoice or not
            if slot.kind is SlotKind.ADJUSTMENT and slot.issue_at + run.grace <= run.as_of:
                old = new_through.get(sub.id)
                new_through[sub.id] = slot.issue_at if old is None else max(old, slot.issue_at)
        for draft, final in decided:
            if final:
                for sid, _, _ in draft.slots:
                    old = new_through.get(sid)
                    new_through[sid] = draft.issue_at if old is None else max(old, draft.issue_at)
        progress = [
            (
                sub.id,
                new_through.get(sub.id),
                next_issue_at(sub, run.book, new_through.get(sub.id), run.as_of),
            )
            for sub in subs
        ]
        return AccountBill(decided, progress)


def _due(sub: Subscription, run: _Run, through: datetime | None) -> list[Slot]:
    account = Account(sub.customer, sub.currency, (sub,), {sub.id: through})
    return [slot for _, slot in due_slots(account, run.book, run.as_of)]


def _ledger_since(run: _Run, stored: list[StoredSubscription]) -> datetime | None:
    """How far back final lines are needed to adjust late usage (None: not at all)."""
    since = None
    for item in stored:
        if item.billed_through is None:
            continue
        try:
            due = _due(item.subscription, run, item.billed_through)
        except TallybookError:
            continue  # reported (and skipped) when its account is billed
        starts = [
            lookback_start(item.subscription, slot.period)
            for slot in due
            if slot.kind is not SlotKind.OPENING
        ]
        starts.append(late_window_start(item.subscription, item.billed_through))
        for start in starts:
            if start is not None and (since is None or start < since):
                since = start
    return since


def _write_credits(
    uow: BillingUnitOfWork,
    run: _Run,
    now: datetime,
    credited: list[tuple[AccountState, AccountBill, list[InvoiceWrite]]],
    bought: dict[str, list[Grant]],
    planned: dict[str, RunCredits],
) -> None:
    """The chunk's ledger writes, in its transaction: plan credits due and grants bought
    by the invoices finalized now (prepaid commitments), then per account the debits of
    its final invoices' credit lines, each invoice's plan-credit expiries and rollovers,
    and the expiries now due (``services.credits.settle``)."""
    writes: list[tuple[str, str, Sequence[Entry]]] = []
    bought_now: list[Grant] = []
    for state, bill, final_writes in credited:
        invoiced = [(w.id, w.draft) for w in sorted(final_writes, key=lambda w: w.number or 0)]
        new = bought_on(invoiced, bought.get(state.customer.id, []))
        credits = planned.get(state.customer.id)
        granted = credits.granted if credits else []
        rolled = credits.closers.grants if credits and credits.closers else []
        bought_now += new + granted + rolled
        entries = [grant_entry(g) for g in [*granted, *new]] + settle(
            invoiced,
            [draft for draft, final in bill.drafts if not final],
            [*state.credits, *((g, g.amount) for g in [*new, *granted])],
            run.as_of,
            _settled_through(bill),
            credits.closers.entries if credits and credits.closers else None,
            rolled,
        )
        writes.append((state.customer.id, state.customer.currency, entries))
    uow.insert_grants(run.tenant_id, bought_now)
    uow.write_credits(run.tenant_id, writes, now)
    renewed = [term for credits in planned.values() for term in credits.renewed]
    if renewed:
        uow.insert_commitments(run.tenant_id, renewed)


def _settled_through(bill: AccountBill) -> datetime | None:
    """How far every continuing subscription of the account is final (None: one is not yet)."""
    through = [t for _, t, following in bill.progress if following is not None]
    if any(t is None for t in through):
        return None
    known = [t for t in through if t is not None]
    return min(known) if known else datetime.max.replace(tzinfo=UTC)


def _result(tenant_id: str, as_of: datetime, counts: Counts) -> RunResult:
    return RunResult(
        tenant_id,
        as_of,
        counts.created,
        counts.updated,
        counts.finalized,
        counts.deleted,
        counts.accounts,
        counts.subscriptions,
        counts.failed,
    )
