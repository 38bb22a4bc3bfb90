"""Backtests: shadow billing of closed periods under candidate plans (CONTRACT.md, Part 2).

``create`` validates the request synchronously (window, plans, candidate documents with
the same located catalog errors as ``PUT /v1/catalog``, customers), stores a ``queued``
job and hands it to a background worker; ``run`` re-rates every closed period lying in
``[from, to)`` of the chosen customers' subscriptions that touch a substituted plan, under
the catalog as it is (original) and with each substituted plan replaced by its candidate,
with the billing engine's own ``domain.billing.period_lines`` and discounts. No invoice
is stored or numbered. A period's figure is all its charge lines (in-advance fees
included) plus its discount lines. Progress is subscriptions walked out of all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tallybook.documents.catalog.issues import CatalogInvalid, CatalogIssue
from tallybook.domain.analytics.months import Month
from tallybook.domain.analytics.retention import percent
from tallybook.domain.catalog.model import Plan
from tallybook.domain.errors import (
    Conflict,
    CurrencyMismatch,
    NotFound,
    TallybookError,
    ValidationError,
)
from tallybook.domain.ids import new_id
from tallybook.domain.money import round_amount
from tallybook.services.catalog import CatalogService, meter_document, parse_with_stored_meters
from tallybook.services.ports import AnalyticsStore, BacktestRow, Clock
from tallybook.services.rerating import Rerater, SubstitutedPlans, Window, touches

log = logging.getLogger("tallybook.backtests")
ZERO = Decimal(0)
MAX_SUBSTITUTIONS = 20
MAX_CUSTOMERS = 10_000
# A running job writes its progress after every chunk (seconds apart); silence this long
# means the process running it stopped.
STALLED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What to re-rate: ``[start, end)``, plan key -> candidate document, customers."""

    start: datetime
    end: datetime
    substitutions: Sequence[tuple[str, Mapping[str, Any]]]
    customers: Sequence[str] | None = None
    include_credits: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat().replace("+00:00", "Z"),
            "to": self.end.isoformat().replace("+00:00", "Z"),
            "substitutions": [{"plan": p, "candidate": dict(c)} for p, c in self.substitutions],
            "customers": None if self.customers is None else list(self.customers),
            "include_credits": self.include_credits,
        }


@dataclass
class _Totals:
    original: Decimal = ZERO
    candidate: Decimal = ZERO
    periods: int = 0
    customers: set[str] = field(default_factory=set)

    def add(self, original: Decimal, candidate: Decimal) -> None:
        self.original += original
        self.candidate += candidate
        self.periods += 1


class BacktestService:
    """Backtest jobs: create (validated), run (in a worker or in the caller), read."""

    def __init__(
        self,
        store: AnalyticsStore,
        rerater: Rerater,
        catalog: CatalogService,
        clock: Clock,
        executor: Executor | None = None,
    ):
        self._store = store
        self._rerater = rerater
        self._catalog = catalog
        self._clock = clock
        self._executor = executor

    # -- create -----------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        request: BacktestRequest,
        *,
        client_id: str | None = None,
        background: bool = True,
    ) -> BacktestRow:
        """Validate and store a queued job (and start it in the background).

        A repeat of ``client_id`` with the same body returns the stored job; with another
        body it is a ``Conflict`` (``conflict``).
        """
        self.candidates(tenant_id, request)
        self._check_customers(tenant_id, request.customers)
        document = request.document()
        digest = _digest(document)
        now = self._clock.now()
        total = self._rerater.count(tenant_id, request.customers)
        row = BacktestRow(
            client_id or new_id("bt"), "queued", 0, total, document, digest, None, None, now, now
        )
        if not self._store.insert_backtest(tenant_id, row):
            existing = self.get(tenant_id, row.id)
            if existing.request_hash != digest:
                raise Conflict(
                    f"backtest {row.id!r} exists with another body",
                    code="conflict",
                    details={"id": row.id},
                )
            return existing
        if background:
            self._submit(tenant_id, row.id, request)
        return row

    def _submit(self, tenant_id: str, backtest_id: str, request: BacktestRequest) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backtest")
        self._executor.submit(self.run, tenant_id, backtest_id, request)

    def candidates(self, tenant_id: str, request: BacktestRequest) -> dict[str, Plan]:
        """Each substituted plan key -> its validated candidate plan.

        Raises ``invalid_window``/``no_closed_period``, ``plan_not_found``,
        ``invalid_catalog`` (located at ``substitutions[i].candidate...``),
        ``currency_mismatch``, ``candidate_interval_mismatch``, ``mixed_currencies``.
        """
        _check_window(request.start, request.end, self._clock.now())
        if not 1 <= len(request.substitutions) <= MAX_SUBSTITUTIONS:
            raise ValidationError(
                f"substitutions must list 1-{MAX_SUBSTITUTIONS} plans",
                code="invalid_substitutions",
            )
        stored = {m.key: meter_document(m) for m in self._catalog.list_meters(tenant_id)}
        result: dict[str, Plan] = {}
        currencies = set()
        for index, (key, document) in enumerate(request.substitutions):
            original = self._catalog.get_plan(tenant_id, key)
            if key in result:
                raise ValidationError(
                    f"plan {key!r} is substituted twice", code="invalid_substitutions"
                )
            candidate = _parse_candidate(index, document, stored)
            if candidate.currency != original.currency:
                raise CurrencyMismatch(
                    f"candidate for {key!r} is in {candidate.currency}, the plan in "
                    f"{original.currency}",
                    details={"plan": key},
                )
            if candidate.interval != original.interval:
                raise ValidationError(
                    f"candidate for {key!r} bills every {candidate.interval}, the plan every "
                    f"{original.interval}: a backtest re-rates the same periods",
                    code="candidate_interval_mismatch",
                    details={"plan": key},
                )
            currencies.add(original.currency)
            result[key] = candidate
        if len(currencies) > 1:
            raise ValidationError(
                "substituted plans must share one currency (no FX)", code="mixed_currencies"
            )
        return result

    def _check_customers(self, tenant_id: str, customers: Sequence[str] | None) -> None:
        if customers is None:
            return
        if not 1 <= len(customers) <= MAX_CUSTOMERS:
            raise ValidationError(
                f"customers must list 1-{MAX_CUSTOMERS} ids, or be null for all",
                code="invalid_customers",
            )
        missing = sorted(set(customers) - self._store.existing_customers(tenant_id, customers))
        if missing:
            raise NotFound(
                f"no customer {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                code="customer_not_found",
                details={"customers": missing[:100]},
            )

    # -- run --------------------------------------------------------------------------

    def run(
        self,
        tenant_id: str,
        backtest_id: str,
        request: BacktestRequest,
        progress: Callable[[int], None] | None = None,
    ) -> BacktestRow:
        """Run a stored job to the end; a failure is stored with its reason."""
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            self._store.update_backtest(
                tenant_id, backtest_id, done=done, updated_at=self._clock.now()
            )
            if progress is not None:
                progress(count)

        try:
            self._store.update_backtest(
                tenant_id, backtest_id, status="running", updated_at=self._clock.now()
            )
            result = self._compute(tenant_id, request, advance)
            self._store.update_backtest(
                tenant_id,
                backtest_id,
                status="succeeded",
                result=result,
                done=done,
                updated_at=self._clock.now(),
            )
        except TallybookError as exc:
            self._fail(tenant_id, backtest_id, {"code": exc.code, "message": exc.message})
        except Exception as exc:  # a job must never stay "running" on a bug
            log.exception("backtest failed", extra={"tenant": tenant_id, "backtest": backtest_id})
            self._fail(
                tenant_id,
                backtest_id,
                {"code": "internal_error", "message": f"unexpected error: {type(exc).__name__}"},
            )
        return self.get(tenant_id, backtest_id)

    def _fail(self, tenant_id: str, backtest_id: str, error: dict[str, str]) -> None:
        self._store.update_backtest(
            tenant_id, backtest_id, status="failed", error=error, updated_at=self._clock.now()
        )

    def _compute(
        self, tenant_id: str, request: BacktestRequest, advance: Callable[[int], None]
    ) -> dict[str, Any]:
        candidates = self.candidates(tenant_id, request)
        base = self._rerater.book(tenant_id)
        currency = next(iter(candidates.values())).currency  # one currency (checked)
        shadow = SubstitutedPlans(base, {k: _constant(p) for k, p in candidates.items()})
        window = Window(request.start, request.end, self._clock.now())
        by_customer: dict[str, _Totals] = {}
        by_period: dict[str, _Totals] = {}
        for rated in self._rerater.periods(
            tenant_id,
            window,
            base,
            [base, shadow],
            match=touches(set(candidates)),
            customers=request.customers,
            progress=advance,
        ):
            original = _period_total(rated.lines(0), rated.discounts(0))
            candidate = _period_total(rated.lines(1), rated.discounts(1))
            customer = rated.subscription.customer
            by_customer.setdefault(customer, _Totals()).add(original, candidate)
            month = by_period.setdefault(str(Month.of(rated.period.start)), _Totals())
            month.add(original, candidate)
            month.customers.add(customer)
        return _result(currency, by_customer, by_period)

    # -- reads ------------------------------------------------------------------------

    def get(self, tenant_id: str, backtest_id: str) -> BacktestRow:
        """A job; one left queued or running with no progress for ``STALLED_AFTER`` (its
        process stopped) is failed with code ``interrupted`` when read."""
        row = self._store.get_backtest(tenant_id, backtest_id)
        if row is None:
            raise NotFound(
                f"no backtest {backtest_id!r}",
                code="backtest_not_found",
                details={"backtest": backtest_id},
            )
        if row.status in ("queued", "running") and (
            self._clock.now() - row.updated_at > STALLED_AFTER
        ):
            self._fail(
                tenant_id,
                backtest_id,
                {"code": "interrupted", "message": "the job stopped making progress"},
            )
            return self.get(tenant_id, backtest_id)
        return row

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[BacktestRow]:
        return self._store.page_backtests(tenant_id, limit=limit, after=after)


def _constant(plan: Plan) -> Callable[[Plan], Plan]:
    return lambda _original: plan


def _period_total(lines: Sequence[Any], discounts: Sequence[Any]) -> Decimal:
    return sum((line.amount for line in lines), ZERO) + sum((d.amount for d in discounts), ZERO)


def _result(
    currency: str, by_customer: Mapping[str, _Totals], by_period: Mapping[str, _Totals]
) -> dict[str, Any]:
    def money(value: Decimal) -> str:
        return f"{round_amount(value, currency):f}"

    original = sum((t.original for t in by_customer.values()), ZERO)
    candidate = sum((t.candidate for t in by_customer.values()), ZERO)
    customers = []
    for key in sorted(by_customer):
        t = by_customer[key]
        customers.append(
            {
                "customer": key,
                "currency": currency,
                "original": money(t.original),
                "candidate": money(t.candidate),
                "delta": money(t.candidate - t.original),
                "delta_pct": _pct(t.candidate - t.original, t.original),
                "periods": t.periods,
            }
        )
    deltas = [t.candidate - t.original for t in by_customer.values()]
    return {
        "summary": {
            "currency": currency,
            "original_total": money(original),
            "candidate_total": money(candidate),
            "delta": money(candidate - original),
            "delta_pct": _pct(candidate - original, original),
            "customers_up": sum(1 for d in deltas if d > 0),
            "customers_down": sum(1 for d in deltas if d < 0),
            "customers_same": sum(1 for d in deltas if d == 0),
            "periods": sum(t.periods for t in by_customer.values()),
        },
        "customers": customers,
        "by_period": [
            {
                "period": key,
                "currency": currency,
                "original": money(t.original),
                "candidate": money(t.candidate),
                "delta": money(t.candidate - t.original),
                "customers": len(t.customers),
                "periods": t.periods,
            }
            for key, t in sorted(by_period.items())
        ],
    }


def _pct(delta: Decimal, base: Decimal) -> str | None:
    value = percent(delta, base)
    return None if value is None else f"{value:f}"


def _check_window(start: datetime, end: datetime, now: datetime) -> None:
    if start >= end:
        raise ValidationError(
            "from must be before to",
            code="invalid_window",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
    if start >= now:
        raise ValidationError(
            "the window has no closed billing period (it starts in the future)",
            code="no_closed_period",
        )


def _parse_candidate(index: int, document: Mapping[str, Any], stored: Mapping[str, Any]) -> Plan:
    try:
        parsed = parse_with_stored_meters({"plans": [document]}, stored)
    except CatalogInvalid as exc:
        prefix = f"substitutions[{index}].candidate"
        raise CatalogInvalid(
            CatalogIssue(_relocate(issue.location, prefix), issue.message) for issue in exc.issues
        ) from None
    return parsed.plans[0]


def _relocate(location: str, prefix: str) -> str:
    if location.startswith("plans[0]"):
        return prefix + location[len("plans[0]") :]
    return f"{prefix}.{location}" if location else prefix


def _digest(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
