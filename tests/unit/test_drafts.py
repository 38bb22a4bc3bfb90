"""What a billing-run chunk stores (domain/billing/drafts.py) and the numbering order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tallybook.domain.billing.drafts import AccountBill, ChunkPlan, OpenDraft, draft_key
from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.schedule import SlotKind

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def draft(customer: str, month: int, amount: str = "10.00") -> InvoiceDraft:
    start = datetime(2026, month, 1, tzinfo=UTC)
    end = datetime(2026, month + 1, 1, tzinfo=UTC)
    line = Line(LineType.FLAT, "base", "Base", D(1), D(amount), D(amount))
    return InvoiceDraft(
        customer,
        "USD",
        SlotKind.PERIOD,
        start,
        end,
        end,
        (line,),
        ((f"sub_{customer}", SlotKind.PERIOD, start),),
    )


def stored(d: InvoiceDraft, invoice_id: str, content_hash: str | None = None) -> OpenDraft:
    return OpenDraft(invoice_id, d.customer, draft_key(d), content_hash or d.content_hash, T0)


def test_new_drafts_are_inserted_and_unchanged_ones_left_alone() -> None:
    plan = ChunkPlan(NOW)
    same, new = draft("a", 1), draft("a", 2)
    plan.add_account(
        {draft_key(same): stored(same, "inv_1")}, AccountBill([(same, False), (new, False)], [])
    )
    assert [w.draft for w in plan.inserts] == [new]
    assert plan.rewrites == [] and plan.deleted == []
    assert (plan.counts.created, plan.counts.updated, plan.counts.finalized) == (1, 0, 0)
    assert [s.invoice_id for s in plan.slots] == [plan.inserts[0].id]


def test_changed_or_finalizing_drafts_are_rewritten_and_stale_ones_deleted() -> None:
    plan = ChunkPlan(NOW)
    changed, final, gone = draft("a", 1), draft("a", 2), draft("a", 3)
    open_drafts = {
        draft_key(changed): stored(changed, "inv_1", content_hash="old"),
        draft_key(final): stored(final, "inv_2"),
        draft_key(gone): stored(gone, "inv_3"),
    }
    plan.add_account(
        open_drafts, AccountBill([(changed, False), (final, True)], [("sub_a", T0, NOW)])
    )
    assert [w.id for w in plan.rewrites] == ["inv_1", "inv_2"]
    assert all(w.created_at == T0 for w in plan.rewrites)  # the stored draft's creation time
    assert plan.deleted == ["inv_3"]
    assert plan.stale_invoices == ["inv_3", "inv_1", "inv_2"]
    assert (plan.counts.updated, plan.counts.finalized, plan.counts.deleted) == (1, 1, 1)
    assert plan.progress == [("sub_a", T0, NOW)]


def test_a_failed_account_writes_nothing() -> None:
    plan = ChunkPlan(NOW)
    plan.add_account({}, AccountBill([(draft("a", 1), True)], [("sub_a", T0, NOW)], failed=True))
    assert plan.counts.failed == 1
    assert plan.inserts == [] and plan.progress == [] and plan.to_number == []


def test_final_invoices_are_numbered_consecutively_by_issue_time_then_customer() -> None:
    plan = ChunkPlan(NOW)
    plan.add_account({}, AccountBill([(draft("b", 1), True), (draft("b", 2), False)], []))
    plan.add_account({}, AccountBill([(draft("a", 2), True), (draft("a", 1), True)], []))
    order = [(w.draft.customer, w.draft.issue_at.month) for w in plan.to_number]
    assert order == [("a", 2), ("b", 2), ("a", 3)]
    plan.assign_numbers(last=12)
    assert [w.number for w in plan.to_number] == [10, 11, 12]
    assert all(w.number is None for w in plan.inserts if not w.finalize)
