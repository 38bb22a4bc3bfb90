"""The credits ledger rule (domain.credits.ledger) and commitment arithmetic, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.credits.commitments import (
    Commitment,
    CommitmentKind,
    due_at,
    true_up_amount,
)
from tallybook.domain.credits.ledger import (
    AppliesTo,
    Category,
    Entry,
    EntryType,
    Grant,
    apply_credits,
    check_grant,
    draw_order,
    due_expiries,
    remaining,
    reversals,
    void_entry,
    with_balances,
)
from tallybook.domain.errors import ValidationError

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
D = Decimal


def grant(
    gid: str,
    amount: str,
    priority: int = 50,
    expires: datetime | None = None,
    created: datetime = JAN,
    scope: AppliesTo | None = None,
    effective: datetime = JAN,
) -> Grant:
    return Grant(
        gid,
        "c",
        "USD",
        D(amount),
        Category.PROMOTIONAL,
        priority,
        effective,
        expires,
        scope or AppliesTo(),
        created,
    )


def line(
    kind: LineType,
    amount: str,
    charge: str = "x",
    start: datetime = JAN,
    end: datetime = FEB,
    sub: str = "s",
) -> Line:
    return Line(
        kind,
        charge,
        "",
        D(1),
        D(amount),
        D(amount),
        period_start=start,
        period_end=end,
        subscription=sub,
    )


def test_order_is_priority_then_soonest_expiry_never_last_then_creation_then_id() -> None:
    grants = [
        grant("never", "1", 20),
        grant("late", "1", 20, expires=MAR),
        grant("soon", "1", 20, expires=FEB),
        grant("low", "1", 10),
        grant("b-older", "1", 30, created=JAN),
        grant("a-newer", "1", 30, created=FEB),
        grant("z-same", "1", 40),
        grant("y-same", "1", 40),
    ]
    ordered = [g.id for g in sorted(grants, key=draw_order)]
    assert ordered == ["low", "soon", "late", "never", "b-older", "a-newer", "y-same", "z-same"]


def test_the_shared_drawdown_example_by_hand() -> None:
    """credits_drawdown.yaml: usage 100.00 drawn P2 25, P1 40, P3 35; the flat fee is out of scope."""
    grants = [grant("P1", "40", 20), grant("P2", "25", 20, expires=MAR), grant("P3", "100", 80)]
    left = {"P1": D("40"), "P2": D("25"), "P3": D("100")}
    lines = [line(LineType.FLAT, "10.00", "base"), line(LineType.USAGE, "100.00", "usage")]
    credit = apply_credits(lines, grants, left, "USD", (JAN, FEB))
    assert [(c.charge, c.amount) for c in credit] == [
        ("P2", D("-25")),
        ("P1", D("-40")),
        ("P3", D("-35")),
    ]
    assert left == {"P1": D(0), "P2": D(0), "P3": D(65)}


def test_scope_all_and_named_charges() -> None:
    lines = [line(LineType.FLAT, "10.00", "base"), line(LineType.USAGE, "5.00", "api")]
    for scope, paid in (
        (AppliesTo("all"), D("15.00")),
        (AppliesTo("charges", ("base",)), D("10.00")),
        (AppliesTo("usage"), D("5.00")),
    ):
        left = {"g": D(100)}
        credit = apply_credits(lines, [grant("g", "100", scope=scope)], left, "USD", (JAN, FEB))
        assert -sum(c.amount for c in credit) == paid


def test_service_period_overlap_decides_and_the_end_is_exclusive() -> None:
    usage = [line(LineType.USAGE, "10.00")]
    ended = grant("ended", "50", expires=JAN)  # [.., Jan 1): no overlap with [Jan 1, Feb 1)
    later = grant("later", "50", effective=FEB)
    edge = grant("edge", "50", expires=FEB, effective=JAN - timedelta(days=30))
    left = {"ended": D(50), "later": D(50), "edge": D(50)}
    credit = apply_credits(usage, [ended, later, edge], left, "USD", (JAN, FEB))
    assert [(c.charge, c.amount) for c in credit] == [("edge", D("-10.00"))]


def test_discounts_come_first_and_the_total_never_goes_negative() -> None:
    usage = line(LineType.USAGE, "100.00")
    discount = line(LineType.DISCOUNT, "-20.00", "d")
    left = {"g": D(500)}
    credit = apply_credits([usage, discount], [grant("g", "500")], left, "USD", (JAN, FEB))
    assert credit[0].amount == D("-80.00")
    # a negative adjustment elsewhere on the invoice caps what credits may pay
    refund = line(LineType.FLAT, "-30.00", "refund")
    left = {"g": D(500)}
    credit = apply_credits([usage, refund], [grant("g", "500")], left, "USD", (JAN, FEB))
    assert credit[0].amount == D("-70.00")


def test_bad_grants_are_refused_with_codes() -> None:
    for bad, code in (
        (grant("g", "0"), "invalid_amount"),
        (grant("g", "-5"), "invalid_amount"),
        (grant("g", "1.001"), "invalid_amount"),
        (grant("g", "1", priority=101), "invalid_priority"),
        (grant("g", "1", priority=-1), "invalid_priority"),
        (grant("g", "1", expires=JAN, effective=FEB), "invalid_expiry"),
    ):
        with pytest.raises(ValidationError) as caught:
            check_grant(bad)
        assert caught.value.code == code


def test_expiry_waits_for_open_invoices_and_billing_through_the_expiry() -> None:
    g = grant("g", "50", expires=FEB)
    left = {"g": D(20)}
    assert due_expiries([g], left, FEB, [(JAN, FEB)], FEB) == []  # the January draft is open
    assert due_expiries([g], left, FEB, [], JAN) == []  # not billed through Feb 1 yet
    (entry,) = due_expiries([g], left, FEB + timedelta(hours=2), [(FEB, MAR)], FEB)
    assert (entry.type, entry.amount, entry.at) == (EntryType.EXPIRY, D(-20), FEB)


def test_reversal_gives_back_once() -> None:
    debits = [
        Entry("a", EntryType.DEBIT, D(-10), FEB, invoice="inv"),
        Entry("b", EntryType.DEBIT, D(-5), FEB, invoice="inv"),
        Entry("a", EntryType.DEBIT, D(-7), FEB, invoice="other"),
    ]
    first = reversals("inv", debits, MAR)
    assert [(e.grant, e.amount) for e in first] == [("a", D(10)), ("b", D(5))]
    assert reversals("inv", debits + first, MAR) == []


def test_commitment_due_is_prorated_by_time_and_rounded_once() -> None:
    term = Commitment(
        "cm",
        "s",
        "c",
        "USD",
        CommitmentKind.POSTPAID,
        D("1000.00"),
        JAN,
        datetime(2027, 1, 1, tzinfo=UTC),
        AppliesTo(),
        D(0),
        False,
        JAN,
    )
    # 31 of 365 days: 1000 * 31 / 365 = 84.9315... -> 84.93
    assert due_at(term, FEB) == D("84.93")
    assert true_up_amount(term, D("80.00"), FEB) == D("4.93")
    assert true_up_amount(term, D("2000.00"), datetime(2027, 1, 1, tzinfo=UTC)) == 0


operations = st.lists(
    st.tuples(
        st.sampled_from(["grant", "draw", "void", "expire", "reverse"]),
        st.integers(min_value=1, max_value=50_000),
        st.integers(min_value=0, max_value=100),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_sum_of_entries_equals_every_grants_remaining(ops: list[tuple[str, int, int]]) -> None:
    """Random grants, draws (through apply_credits), voids, expiries and reversals: the
    ledger's entries always sum, per grant, to what it has left, never below zero, and
    ``balance_after`` runs as the sum."""
    grants: list[Grant] = []
    entries: list[Entry] = []
    left: dict[str, Decimal] = {}
    invoices = 0
    for op, cents, priority in ops:
        amount = D(cents) / 100
        if op == "grant":
            g = grant(f"g{len(grants)}", str(amount), priority, expires=MAR if cents % 2 else None)
            grants.append(g)
            entries.append(Entry(g.id, EntryType.GRANT, g.amount, JAN))
            left[g.id] = g.amount
        elif op == "draw":
            invoices += 1
            inv = f"inv{invoices}"
            credit = apply_credits(
                [line(LineType.USAGE, str(amount))], grants, left, "USD", (JAN, FEB)
            )
            entries += [
                Entry(c.charge, EntryType.DEBIT, c.amount, FEB, invoice=inv) for c in credit
            ]
        elif op == "void" and grants:
            g = grants[cents % len(grants)]
            entry = void_entry(g, left[g.id], FEB)
            if entry is not None:
                entries.append(entry)
                left[g.id] = D(0)
        elif op == "expire":
            for entry in due_expiries(grants, left, MAR, [], MAR):
                entries.append(entry)
                left[entry.grant] = D(0)
        elif op == "reverse" and invoices:
            inv = f"inv{cents % invoices + 1}"
            for entry in reversals(inv, entries, FEB):
                entries.append(entry)
                left[entry.grant] += entry.amount
        sums = remaining(entries)
        for g in grants:
            assert sums.get(g.id, D(0)) == left[g.id] >= 0
    written = with_balances(entries, D(0))
    total = D(0)
    for entry in written:
        total += entry.amount
        assert entry.balance_after == total
    assert total == sum(left.values(), D(0))
