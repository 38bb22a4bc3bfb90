"""Previews: the upcoming invoice and the current period's usage of a customer.

Nothing here is stored. Both are computed with the billing engine's own pure functions
(``domain.billing.accounts.slot_lines`` and ``assemble``, fed by ``services.billing.invoices.PlanBook``
and ``UsageCache``), so a preview shows exactly what a billing run would bill if the
current period closed now.

Decisions (documented in docs/portal.md):

- **Upcoming invoice** of a customer: the invoice its current period would produce if it
  closed now, with its children's subscriptions when it is a bill-to customer (as the
  real invoice has). Several periods ending at different times (a child on another
  anchor): the one closing first. No subscription in a billing period now (none, not
  started, trialing, ended): ``NotFound`` ``no_upcoming_invoice``.
- **Current usage** of a customer: its own subscriptions' usage charges in the period
  holding now; an empty list (not an error) when none is in a period.
- **Projection** is linear in time: usage of ``count`` and ``sum`` meters so far is
  scaled by ``span / elapsed`` to the end of its usage span (the period, or the part of
  it on one plan), then priced by the same functions; gauges (``max``, ``min``,
  ``latest``, ``time_weighted_average``) and ``unique_count`` are taken as they stand.
  ``projected_total`` is the total of the projected upcoming invoice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from tallybook.domain.billing.accounts import assemble, slot_lines
from tallybook.domain.billing.adjustments import Ledger
from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.period_lines import Usage, UsageData, UsageQuery, usage_queries
from tallybook.domain.billing.proration import parts, scale_allowance, usage_spans
from tallybook.domain.billing.schedule import Slot, SlotKind
from tallybook.domain.catalog.model import Aggregation
from tallybook.domain.credits.ledger import Grant
from tallybook.domain.errors import NotFound
from tallybook.domain.metering.meters import WindowSize
from tallybook.domain.periods import Period
from tallybook.domain.subscriptions.model import Customer, Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.billing.invoices import PlanBook, UsageCache
from tallybook.services.credits import apply_to_drafts
from tallybook.services.customers import customer_not_found
from tallybook.services.finance.invoicing import charge_rates
from tallybook.services.ports import Clock, PlanReader, TaxCalculator, UsageReader
from tallybook.services.shared_reads import remembered
from tallybook.services.usage import UsageService

ZERO = Decimal(0)
ONE_MICRO = timedelta(microseconds=1)
LINEAR = frozenset({Aggregation.COUNT, Aggregation.SUM})
MAX_PROJECTED_EVENTS = 100_000


class CustomerReader(Protocol):
    """``services.customers.CustomerService``."""

    def get(self, tenant_id: str, customer_id: str) -> Customer:
        """The customer, or NotFound ``customer_not_found``."""
        ...

    def page(
        self,
        tenant_id: str,
        *,
        limit: int = 50,
        starting_after: str | None = None,
        parent: str | None = None,
    ) -> Sequence[Customer]: ...


class SubscriptionReader(Protocol):
    """``services.subscriptions.SubscriptionService``."""

    def of_account(self, tenant_id: str, account: str) -> list[StoredSubscription]:
        """Every subscription billed to ``account`` (its own and its children's)."""
        ...

    def customer_view(
        self, tenant_id: str, customer_id: str
    ) -> tuple[Customer, list[StoredSubscription]]:
        """The customer and ``of_account(customer.account)`` in one read; NotFound
        ``customer_not_found``."""
        ...


class CreditReader(Protocol):
    """``ports.CreditStore``: a customer's grants with their remaining amounts."""

    def balances(self, tenant_id: str, customer: str) -> list[tuple[Grant, Decimal]]: ...


@dataclass(frozen=True, slots=True)
class Upcoming:
    """The upcoming invoice (``draft``) and the same invoice with usage projected."""

    customer: Customer
    draft: InvoiceDraft
    projected: InvoiceDraft
    as_of: datetime


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    """The period total as the customer sees it (see ``PreviewService.period_total``)."""

    customer: str
    currency: str
    period_start: datetime
    period_end: datetime
    total: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True)
class ChargeUsage:
    """One usage charge of one subscription in the current period."""

    subscription: str
    charge: str
    name: str
    meter: str
    used: Decimal
    included: Decimal
    remaining: Decimal  # allowance left in the usage span holding now
    billable: Decimal
    amount: Decimal
    projected_used: Decimal
    projected_amount: Decimal


@dataclass(frozen=True, slots=True)
class CurrentUsage:
    customer: Customer
    as_of: datetime
    period_start: datetime | None
    period_end: datetime | None
    currency: str
    charges: tuple[ChargeUsage, ...]
    amount: Decimal  # the upcoming invoice's total so far (own subscriptions)
    projected_total: Decimal
    plans: tuple[str, ...]  # names of the plans in force now


@dataclass(frozen=True, slots=True)
class MeterDays:
    """Daily values of one meter over the current period (None: day still to come), each
    the meter's own aggregation over that day; ``so_far`` is the meter's aggregation over
    the period up to now (not a sum of the days: a gauge's days do not add up)."""

    meter: str
    name: str
    days: tuple[tuple[Period, Decimal | None], ...]
    so_far: Decimal | None = None


@dataclass(frozen=True, slots=True)
class _Computed:
    subscriptions: tuple[Subscription, ...]
    actual: list[InvoiceDraft]
    projected: list[InvoiceDraft]
    book: PlanBook


class PreviewService:
    def __init__(
        self,
        customers: CustomerReader,
        subscriptions: SubscriptionReader,
        plans: PlanReader,
        usage: UsageReader,
        clock: Clock,
        reports: UsageService | None = None,
        credits: CreditReader | None = None,
        taxes: TaxCalculator | None = None,
    ):
        self._customers = customers
        self._subscriptions = subscriptions
        self._plans = plans
        self._usage = usage
        self._clock = clock
        self._reports = reports
        self._credits = credits
        self._taxes = taxes  # previews show tax as the run would put it (after credits)

    # -- use cases ------------------------------------------------------------------------

    def customer(self, tenant_id: str, customer_id: str) -> Customer:
        if not customer_id.isprintable():  # no customer has such an id (and NUL breaks SQL)
            raise customer_not_found(customer_id)
        return self._customers.get(tenant_id, customer_id)

    def upcoming_invoice(
        self,
        tenant_id: str,
        customer_id: str,
        now: datetime | None = None,
        *,
        replacing: Subscription | None = None,
    ) -> Upcoming:
        """The customer's upcoming invoice now (so far and projected); with ``replacing``,
        as it would be if the stored subscription of that id were ``replacing`` (the
        preview of a plan change). NotFound ``no_upcoming_invoice`` outside a period.
        Computed once per page inside ``shared_reads`` (without ``replacing``)."""
        now = now or self._clock.now()
        if replacing is None:
            key = ("upcoming", tenant_id, customer_id, now)
            return remembered(key, lambda: self._upcoming(tenant_id, customer_id, now, None))
        return self._upcoming(tenant_id, customer_id, now, replacing)

    def _upcoming(
        self, tenant_id: str, customer_id: str, now: datetime, replacing: Subscription | None
    ) -> Upcoming:
        customer = self.customer(tenant_id, customer_id)
        subscriptions = self._billed_with(tenant_id, customer)
        if replacing is not None:
            subscriptions = [replacing if s.id == replacing.id else s for s in subscriptions]
        computed = self._compute(tenant_id, customer, subscriptions, now)
        if not computed.actual:
            raise NotFound(
                f"customer {customer_id!r} has no subscription in a billing period now",
                code="no_upcoming_invoice",
                details={"customer": customer_id},
            )
        draft, projected = computed.actual[0], computed.projected[0]
        if self._credits is not None:
            grants = self._credits.balances(tenant_id, customer.id)
            draft = _with_credits(draft, grants)
            projected = _with_credits(projected, grants)
        if self._taxes is not None:
            taxes = self._taxes.for_run(tenant_id)
            rates = charge_rates(subscriptions, computed.book)
            draft = taxes.tax(customer, draft, rates)
            projected = taxes.tax(customer, projected, rates)
        return Upcoming(customer, draft, projected, now)

    def period_total(
        self, tenant_id: str, customer_id: str, now: datetime | None = None
    ) -> PeriodTotal | None:
        """THE period total as the customer would see it -- the one home of that figure,
        for ``spend_amount`` alerts and spend limits (CONTRACT.md Part 2, "Alerts, spend
        limits, entitlements"): the total of the upcoming invoice (its lines rounded as a
        billing run rounds them, fees in full as planned, in-arrears fees included, a
        bill-to customer's children included) **before credits**. None when no
        subscription of the customer is in a billing period now; NotFound
        ``customer_not_found`` for an unknown customer."""
        now = now or self._clock.now()
        customer, stored = self._subscriptions.customer_view(tenant_id, customer_id)
        computed = self._compute(tenant_id, customer, _billed(customer, stored), now)
        if not computed.actual:
            return None
        draft = computed.actual[0]
        return PeriodTotal(
            customer.id,
            draft.currency,
            draft.period_start,
            draft.period_end,
            draft.totals.total,
            now,
        )

    def current_usage(
        self,
        tenant_id: str,
        customer_id: str,
        now: datetime | None = None,
        *,
        project: bool = True,
    ) -> CurrentUsage:
        """The customer's usage charges in the period holding now (see module doc).
        ``project=False`` skips rating the projection for a caller that does not read it
        (alert evaluation): ``projected_used``, ``projected_amount`` and
        ``projected_total`` then repeat the actual figures. NotFound ``customer_not_found``."""
        now = now or self._clock.now()
        customer, stored = self._subscriptions.customer_view(tenant_id, customer_id)
        own = [s.subscription for s in stored if s.subscription.customer == customer.id]
        computed = self._compute(tenant_id, customer, own, now, project=project)
        if not computed.actual:
            return CurrentUsage(customer, now, None, None, customer.currency, (), ZERO, ZERO, ())
        draft, projected = computed.actual[0], computed.projected[0]
        return CurrentUsage(
            customer=customer,
            as_of=now,
            period_start=draft.period_start,
            period_end=draft.period_end,
            currency=draft.currency,
            charges=_charges(draft, projected, computed, now),
            amount=draft.totals.total,
            projected_total=projected.totals.total,
            plans=_plan_names(computed, now),
        )

    def daily_usage(self, tenant_id: str, usage: CurrentUsage) -> list[MeterDays]:
        """Per meter of ``usage``'s charges, its value per day (customer's time zone) over
        the current period; days after ``usage.as_of`` are None."""
        start, end = usage.period_start, usage.period_end
        if self._reports is None or start is None or end is None:
            return []
        book = PlanBook(self._plans, tenant_id)
        result: list[MeterDays] = []
        for meter_key in dict.fromkeys(c.meter for c in usage.charges if c.meter):
            report = self._reports.report(
                tenant_id,
                meter_key,
                start,
                end,
                window=WindowSize.DAY,
                tz=usage.customer.timezone,
                customers=[usage.customer.id],
            )
            values = report.series[0].values if report.series else []
            days = tuple((p, None if p.start > usage.as_of else (v or ZERO)) for p, v in values)
            meter = book.meter(meter_key)
            so_far = self._so_far(tenant_id, meter_key, usage, start, min(end, usage.as_of))
            result.append(MeterDays(meter_key, meter.name or meter_key, days, so_far))
        return result

    def _so_far(
        self, tenant_id: str, meter_key: str, usage: CurrentUsage, start: datetime, end: datetime
    ) -> Decimal | None:
        """The meter's aggregation over ``[start, end)`` for the customer (one window)."""
        if self._reports is None or end <= start:
            return None
        report = self._reports.report(
            tenant_id,
            meter_key,
            start,
            end,
            window=None,
            tz=usage.customer.timezone,
            customers=[usage.customer.id],
        )
        values = report.series[0].values if report.series else []
        return values[0][1] if values else None

    def customers(
        self, tenant_id: str, *, limit: int = 50, starting_after: str | None = None
    ) -> Sequence[Customer]:
        if starting_after is not None and not starting_after.isprintable():
            starting_after = None
        return self._customers.page(tenant_id, limit=limit, starting_after=starting_after)

    # -- computing ------------------------------------------------------------------------

    def _billed_with(self, tenant_id: str, customer: Customer) -> list[Subscription]:
        """A bill-to customer's and its children's subscriptions; a child's own only."""
        if customer.parent is not None:
            return self._own(tenant_id, customer)
        stored = self._subscriptions.of_account(tenant_id, customer.id)
        return [s.subscription for s in stored]

    def _own(self, tenant_id: str, customer: Customer) -> list[Subscription]:
        stored = self._subscriptions.of_account(tenant_id, customer.account)
        return [s.subscription for s in stored if s.subscription.customer == customer.id]

    def _compute(
        self,
        tenant_id: str,
        customer: Customer,
        subscriptions: Sequence[Subscription],
        now: datetime,
        *,
        project: bool = True,
    ) -> _Computed:
        """The actual drafts and, unless ``project`` is False (then the actual ones
        again), the projected ones; rated once per page inside ``shared_reads``."""
        # subscriptions (unhashable) by identity: the shared reads hand out the same ones
        given = tuple(subscriptions)
        key = ("rated", tenant_id, customer, tuple(map(id, given)), now, project)
        kept, computed = remembered(
            key, lambda: (given, self._rate(tenant_id, customer, given, now, project=project))
        )
        if all(a is b for a, b in zip(kept, given, strict=True)):
            return computed
        return self._rate(tenant_id, customer, given, now, project=project)

    def _rate(
        self,
        tenant_id: str,
        customer: Customer,
        subscriptions: Sequence[Subscription],
        now: datetime,
        *,
        project: bool,
    ) -> _Computed:
        book = PlanBook(self._plans, tenant_id)
        cache = UsageCache(self._usage, tenant_id, book)
        actual, projected = [], []
        current = []
        for subscription in subscriptions:
            period = subscription.period_at(now)
            if period is None:
                continue
            current.append(subscription)
            slot = Slot(subscription.id, SlotKind.PERIOD, period)
            usage = cache.usage(subscription.customer, usage_queries(subscription, period, book))
            actual.append((subscription, slot, _lines(subscription, slot, book, usage)))
            if project:
                guess = project_usage(usage, book, now)
                projected.append((subscription, slot, _lines(subscription, slot, book, guess)))
        bill_to = customer.id
        drafts = assemble(bill_to, customer.currency, actual)
        guessed = assemble(bill_to, customer.currency, projected) if project else drafts
        return _Computed(tuple(current), drafts, guessed, book)


def _billed(customer: Customer, stored: Sequence[StoredSubscription]) -> list[Subscription]:
    """``_billed_with`` from the account's subscriptions already read (``customer_view``
    reads ``of_account(customer.account)``: a bill-to customer's account is itself)."""
    return [s.subscription for s in stored if customer.parent is None or
            s.subscription.customer == customer.id]  # fmt: skip


def _with_credits(draft: InvoiceDraft, grants: Sequence[tuple[Grant, Decimal]]) -> InvoiceDraft:
    """The draft with the credit lines its lines would draw now (projected, not drawn)."""
    return apply_to_drafts([(draft, False)], grants)[0][0]


def _lines(subscription: Subscription, slot: Slot, book: PlanBook, usage: UsageData) -> list[Line]:
    return slot_lines(subscription, slot, book, usage, Ledger())


# -- projection -------------------------------------------------------------------------


def project_usage(usage: UsageData, book: PlanBook, now: datetime) -> dict[UsageQuery, Usage]:
    """Usage so far scaled linearly to the end of each query's window (count/sum only)."""
    projected: dict[UsageQuery, Usage] = {}
    for query, measured in usage.items():
        factor = _factor(query, now)
        linear = book.meter(query.meter).aggregation in LINEAR
        projected[query] = _scaled(measured, factor) if linear and factor != 1 else measured
    return projected


def _factor(query: UsageQuery, now: datetime) -> Decimal:
    """``window / elapsed``: 1 for a window over before now (or not begun)."""
    if now >= query.end or now <= query.start:
        return Decimal(1)
    whole = (query.end - query.start) // ONE_MICRO
    elapsed = (now - query.start) // ONE_MICRO
    return Decimal(whole) / Decimal(elapsed)


def _scaled(measured: Usage, factor: Decimal) -> Usage:
    by_dimension = None
    if measured.by_dimension is not None:
        by_dimension = {k: _scale(v, factor) for k, v in measured.by_dimension.items()}
    events = None
    if measured.event_values is not None:
        events = _more_events(measured.event_values, factor)
    total = _scale(measured.total, factor) if events is None else sum(events, ZERO)
    return replace(measured, total=total, by_dimension=by_dimension, event_values=events)


def _scale(value: Decimal, factor: Decimal) -> Decimal:
    """``value x factor``, to whole units when ``value`` is whole (counts), else 6 places."""
    exact = value * factor
    places = Decimal(1) if value == value.to_integral_value() else Decimal("0.000001")
    return exact.quantize(places, rounding=ROUND_HALF_UP)


def _more_events(values: Sequence[Decimal], factor: Decimal) -> tuple[Decimal, ...]:
    """The events so far repeated to ``len x factor`` events (per-event pricing).

    Past ``MAX_PROJECTED_EVENTS`` the events are not repeated further but scaled up, so
    the projected volume stays linear (per-event minimums are then approximate).
    """
    if not values:
        return ()
    target = int(_scale(Decimal(len(values)), factor))
    count = min(target, MAX_PROJECTED_EVENTS)
    stretch = Decimal(target) / Decimal(count)
    repeated = [values[i % len(values)] for i in range(count)]
    return tuple(v * stretch for v in repeated) if stretch != 1 else tuple(repeated)


# -- per-charge summaries ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    """One usage span of a charge: its window and its (scaled) allowance."""

    start: datetime
    end: datetime
    allowance: Decimal


def _charges(
    draft: InvoiceDraft, projected: InvoiceDraft, computed: _Computed, now: datetime
) -> tuple[ChargeUsage, ...]:
    actual = _usage_by_charge(draft.lines)
    guessed = _usage_by_charge(projected.lines)
    names = _charge_names(computed)
    spans = _spans(computed, now)
    result = []
    for key, lines in actual.items():
        name, meter = names.get(key, (key[1], ""))
        result.append(
            _charge_usage(key, name, meter, lines, guessed.get(key, lines), spans.get(key, []), now)
        )
    return tuple(result)


def _charge_usage(
    key: tuple[str, str],
    name: str,
    meter: str,
    lines: list[Line],
    projected: list[Line],
    spans: list[_Span],
    now: datetime,
) -> ChargeUsage:
    """Period totals as billed; ``remaining`` is what the span holding ``now`` has left.
    Units rolled over from the previous period (``Line.rolled_over``) count as included."""
    current = next((span for span in spans if span.start <= now < span.end), None)
    remaining = ZERO
    if current is not None:
        mine = [line for line in lines if line.period_start == current.start]
        allowance = current.allowance + _sum(line.rolled_over for line in mine)
        remaining = max(ZERO, allowance - _sum(line.used for line in mine))
    return ChargeUsage(
        subscription=key[0],
        charge=key[1],
        name=name,
        meter=meter,
        used=_sum(line.used for line in lines),
        included=_sum(span.allowance for span in spans) + _sum(line.rolled_over for line in lines),
        remaining=remaining,
        billable=_sum(line.quantity for line in lines),
        amount=_sum(line.amount for line in lines),
        projected_used=_sum(line.used for line in projected),
        projected_amount=_sum(line.amount for line in projected),
    )


def _spans(computed: _Computed, now: datetime) -> dict[tuple[str, str], list[_Span]]:
    """Per (subscription, charge): its usage spans in the current period (plan changes
    split a period; the allowance policies scale each span's allowance)."""
    result: dict[tuple[str, str], list[_Span]] = {}
    for subscription in computed.subscriptions:
        period = subscription.period_at(now)
        if period is None:
            continue
        for span in usage_spans(parts(subscription, period), period.full):
            for charge in computed.book[span.phase.plan].usage_charges:
                allowance = scale_allowance(charge.included, span.scale)
                result.setdefault((subscription.id, charge.key), []).append(
                    _Span(span.start, span.end, allowance)
                )
    return result


def _usage_by_charge(lines: Iterable[Line]) -> dict[tuple[str, str], list[Line]]:
    grouped: dict[tuple[str, str], list[Line]] = {}
    for line in lines:
        if line.type is LineType.USAGE:
            grouped.setdefault((line.subscription or "", line.charge), []).append(line)
    return grouped


def _charge_names(computed: _Computed) -> Mapping[tuple[str, str], tuple[str, str]]:
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for subscription in computed.subscriptions:
        for phase in subscription.phases:
            for charge in computed.book[phase.plan].usage_charges:
                names[(subscription.id, charge.key)] = (charge.name or charge.key, charge.meter)
    return names


def _plan_names(computed: _Computed, now: datetime) -> tuple[str, ...]:
    names = (computed.book[s.phase_at(now).plan].name for s in computed.subscriptions)
    return tuple(dict.fromkeys(names))


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), ZERO)
