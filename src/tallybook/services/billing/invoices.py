"""Invoices: computing them (without storing), reading them, voiding and paying them.

``InvoiceService.preview`` computes the invoice a customer's current period would get
if it closed now (usage so far, fees as planned) and stores nothing: the upcoming
invoice, the customer usage page and billing runs all compute through the same pure
functions (``domain.billing.accounts``). ``PlanBook`` and ``UsageCache`` feed those functions
from the catalog and the event store, caching within one run or request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.accounts import Account, assemble, slot_lines, slot_usage_queries
from tallybook.domain.billing.adjustments import Ledger, late_usage_queries
from tallybook.domain.billing.invoice import Invoice, InvoiceDraft, InvoiceStatus
from tallybook.domain.billing.numbering import parse_number
from tallybook.domain.billing.period_lines import Usage, UsageData, UsageQuery, usage_queries
from tallybook.domain.billing.schedule import Slot, SlotKind
from tallybook.domain.catalog.model import Meter, Plan
from tallybook.domain.errors import Conflict, NotFound, ValidationError
from tallybook.domain.notifications import invoice_status_message
from tallybook.domain.subscriptions.model import PlanRef, Subscription
from tallybook.services.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from tallybook.services.ports import Clock, InvoiceStore, PlanReader, UsageKey, UsageReader

ZERO = Decimal(0)
# Customers per usage query: one GROUP BY customer query per meter, window and this many
# customers. A window wanted by at least ``bulk_threshold`` customers of a chunk is read
# for the whole tenant at once (customers=None) instead. Measured at 10M events
# (docs/performance.md, Billing runs): on PostgreSQL the whole-tenant query is faster
# (7 s vs 13 s for 3 meters); on SQLite it is 12x slower (SQLite plans it over the
# (tenant, ts) index), so the composition root disables it there.
QUERY_CUSTOMERS = 1000
BULK_THRESHOLD = 200


class PlanBook(Mapping[PlanRef, Plan]):
    """Plan versions and meters read on demand from the catalog, cached."""

    def __init__(self, reader: PlanReader, tenant_id: str):
        self._reader = reader
        self._tenant = tenant_id
        self._plans: dict[PlanRef, Plan] = {}
        self._meters: dict[str, Meter] = {}

    def __getitem__(self, ref: PlanRef) -> Plan:
        plan = self._plans.get(ref)
        if plan is None:
            plan = self._reader.get_plan(self._tenant, ref.key, ref.version)
            self._plans[ref] = plan
        return plan

    def __iter__(self) -> Iterator[PlanRef]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    def meter(self, key: str) -> Meter:
        meter = self._meters.get(key)
        if meter is None:
            meter = self._reader.get_meter(self._tenant, key)
            self._meters[key] = meter
        return meter


class UsageCache:
    """Answers ``UsageQuery`` values per customer from a ``UsageReader``.

    ``prefetch`` reads many customers' windows in as few queries as possible: one
    GROUP BY customer query per meter and window for every ``query_customers`` customers
    wanting it (kept until ``forget``), or, when at least ``bulk_threshold`` customers
    want a window, one query for the whole tenant (``customers=None``, kept for the run).
    """

    def __init__(
        self,
        reader: UsageReader,
        tenant_id: str,
        book: PlanBook,
        query_customers: int = QUERY_CUSTOMERS,
        bulk_threshold: int | None = BULK_THRESHOLD,
    ):
        self._reader = reader
        self._tenant = tenant_id
        self._book = book
        self._per_query = query_customers
        self._bulk_threshold = bulk_threshold
        self._bulk: dict[
            tuple[str, datetime, datetime, str | None], Mapping[UsageKey, Decimal]
        ] = {}
        self._some: dict[tuple[str, UsageQuery], Usage] = {}

    def prefetch(self, wanted: Mapping[UsageQuery, set[str]]) -> None:
        for query, customers in wanted.items():
            if query.per_event:
                continue  # read per customer on demand
            if self._bulk_threshold is not None and len(customers) >= self._bulk_threshold:
                self._window(query, None)
                if query.group_by is not None:
                    self._window(query, query.group_by)
                continue
            missing = sorted(c for c in customers if (c, query) not in self._some)
            for start in range(0, len(missing), self._per_query):
                self._read_some(query, missing[start : start + self._per_query])

    def usage(self, customer: str, queries: Iterable[UsageQuery]) -> UsageData:
        return {query: self.get(customer, query) for query in queries}

    def get(self, customer: str, query: UsageQuery) -> Usage:
        found = self._some.get((customer, query))
        if found is not None:
            return found
        if query.per_event:
            found = self._per_event(customer, query)
        elif self._key(query, None) in self._bulk:
            found = self._from_bulk(customer, query)
        else:
            self._read_some(query, [customer])
            return self._some[(customer, query)]
        self._some[(customer, query)] = found
        return found

    def forget(self) -> None:
        """Drop per-customer answers (keep whole windows) between chunks of a run."""
        self._some.clear()

    def _key(
        self, query: UsageQuery, group_by: str | None
    ) -> tuple[str, datetime, datetime, str | None]:
        return (query.meter, query.start, query.end, group_by)

    def _window(self, query: UsageQuery, group_by: str | None) -> Mapping[UsageKey, Decimal]:
        key = self._key(query, group_by)
        found = self._bulk.get(key)
        if found is None:
            meter = self._book.meter(query.meter)
            found = self._reader.aggregate(
                self._tenant, meter, query.start, query.end, group_by=group_by
            )
            self._bulk[key] = found
        return found

    def _from_bulk(self, customer: str, query: UsageQuery) -> Usage:
        total = self._window(query, None).get(UsageKey(customer), ZERO)
        if query.group_by is None:
            return Usage(total)
        grouped = self._window(query, query.group_by)
        return Usage(total, _dimensions(grouped, customer))

    def _read_some(self, query: UsageQuery, customers: Sequence[str]) -> None:
        meter = self._book.meter(query.meter)
        totals = self._reader.aggregate(
            self._tenant, meter, query.start, query.end, customers=customers
        )
        grouped: Mapping[UsageKey, Decimal] = {}
        if query.group_by is not None:
            grouped = self._reader.aggregate(
                self._tenant,
                meter,
                query.start,
                query.end,
                customers=customers,
                group_by=query.group_by,
            )
        for customer in customers:
            total = totals.get(UsageKey(customer), ZERO)
            by = _dimensions(grouped, customer) if query.group_by is not None else None
            self._some[(customer, query)] = Usage(total, by)

    def _per_event(self, customer: str, query: UsageQuery) -> Usage:
        meter = self._book.meter(query.meter)
        values = self._reader.event_values(self._tenant, meter, customer, query.start, query.end)
        return Usage(sum(values, ZERO), None, tuple(values))


def _dimensions(grouped: Mapping[UsageKey, Decimal], customer: str) -> dict[str, Decimal]:
    return {
        key.dimension: value
        for key, value in grouped.items()
        if key.customer == customer and key.dimension is not None
    }


def account_usage(
    cache: UsageCache, account: Account, book: PlanBook, slots: Iterable[tuple[Subscription, Slot]]
) -> dict[str, UsageData]:
    """Every usage answer the given slots of an account need, per customer."""
    usage: dict[str, dict[UsageQuery, Usage]] = {}
    for subscription, slot in slots:
        through = account.billed_through.get(subscription.id)
        answers = usage.setdefault(subscription.customer, {})
        for query in slot_usage_queries(subscription, slot, book, through):
            if query not in answers:
                answers[query] = cache.get(subscription.customer, query)
    for subscription in account.subscriptions:  # late usage of ended ones, for carriers
        through = account.billed_through.get(subscription.id)
        queries = late_usage_queries(subscription, book, through)
        answers = usage.setdefault(subscription.customer, {}) if queries else {}
        for query in queries:
            if query not in answers:
                answers[query] = cache.get(subscription.customer, query)
    return dict(usage)


class InvoiceService:
    def __init__(self, store: InvoiceStore, plans: PlanReader, usage: UsageReader, clock: Clock):
        self._store = store
        self._plans = plans
        self._usage = usage
        self._clock = clock
        # called with (tenant, customer) after an invoice is paid or voided (bootstrap
        # wires the credit top-up check: a paid top-up no longer blocks the next one)
        self.after_status: Callable[[str, str], object] | None = None
        # whether an invoice has credit notes (set by bootstrap): such an invoice is
        # corrected by further credit notes, never voided (issue 16)
        self.has_credit_notes: Callable[[str, str], bool] | None = None

    def get(self, tenant_id: str, reference: str) -> Invoice:
        """An invoice by id, or by number (``INV-000042`` or ``42``)."""
        invoice = self._store.get(tenant_id, reference)
        if invoice is None:
            number = parse_number(reference)
            if number is not None:
                invoice = self._store.get_by_number(tenant_id, number)
        if invoice is None:
            raise NotFound(
                f"no invoice {reference!r}",
                code="invoice_not_found",
                details={"invoice": reference},
            )
        return invoice

    def void(self, tenant_id: str, reference: str) -> Invoice:
        invoice = self.get(tenant_id, reference)
        if self.has_credit_notes is not None and self.has_credit_notes(tenant_id, invoice.id):
            raise Conflict(
                "an invoice with credit notes cannot be voided: credit what is left instead",
                code="invoice_has_credit_notes",
                details={"invoice": invoice.id},
            )
        now = self._clock.now()
        voided = invoice.voided(now)
        message = invoice_status_message(voided, now)
        self._store.save_status(tenant_id, voided, InvoiceStatus.FINALIZED, [message])
        self._changed(tenant_id, voided)
        return voided

    def pay(self, tenant_id: str, reference: str) -> Invoice:
        invoice = self.get(tenant_id, reference)
        now = self._clock.now()
        paid = invoice.paid(now)
        message = invoice_status_message(paid, now)
        self._store.save_status(tenant_id, paid, InvoiceStatus.FINALIZED, [message])
        self._changed(tenant_id, paid)
        return paid

    def _changed(self, tenant_id: str, invoice: Invoice) -> None:
        if self.after_status is not None:
            self.after_status(tenant_id, invoice.customer)

    def preview(
        self,
        tenant_id: str,
        bill_to: str,
        currency: str,
        subscriptions: Sequence[Subscription],
        at: datetime | None = None,
    ) -> list[InvoiceDraft]:
        """The invoice(s) the periods holding ``at`` (default now) would get if they closed
        now: usage so far, fees as planned. Computed, never stored; late-usage
        adjustments of earlier periods are left to the billing run."""
        at = at or self._clock.now()
        book = PlanBook(self._plans, tenant_id)
        cache = UsageCache(self._usage, tenant_id, book)
        computed = []
        for subscription in subscriptions:
            period = subscription.period_at(at)
            if period is None:
                continue
            slot = Slot(subscription.id, SlotKind.PERIOD, period)
            queries = usage_queries(subscription, period, book)
            usage = cache.usage(subscription.customer, queries)
            lines = slot_lines(subscription, slot, book, usage, Ledger())
            computed.append((subscription, slot, lines))
        return assemble(bill_to, currency, computed)

    def list(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        status: InvoiceStatus | None = None,
        number: str | None = None,
        period_start_from: datetime | None = None,
        period_start_to: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[Invoice]:
        """A page of invoices in number order (drafts last, by id). ``number`` is
        ``INV-000042`` or ``42``; ``period_start_from``/``_to`` bound the period start as
        ``[from, to)``. Raises ``ValidationError`` (``invalid_number_filter``,
        ``invalid_limit``, ``invalid_cursor``)."""
        wanted = None
        if number is not None:
            wanted = parse_number(number)
            if wanted is None:
                raise ValidationError(
                    f"number must be an invoice number such as INV-000042 or 42, got {number!r}",
                    code="invalid_number_filter",
                    details={"number": number[:64]},
                )
        position = decode_cursor(cursor, (int, str))
        if position is not None and position[1] is None:
            raise ValidationError("cursor is not one this API returned", code="invalid_cursor")
        after = None if position is None else (_int_or_none(position[0]), str(position[1]))
        rows = self._store.page(
            tenant_id,
            customer=customer,
            status=status,
            number=wanted,
            period_start_from=period_start_from,
            period_start_to=period_start_to,
            limit=check_limit(limit) + 1,
            after=after,
        )
        return page_of(rows, limit, lambda i: [i.number, i.id])


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None
