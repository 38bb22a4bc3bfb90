"""What a billing run stores: inserts, rewrites, deletions, finalization and numbering order.

A run recomputes every account's drafts from scratch (``accounts.account_drafts``) and
compares them with the drafts stored for the account (``OpenDraft``):

- a draft with no stored counterpart (same kind and period) is **inserted**;
- a stored draft is **rewritten** when its lines changed (``content_hash``) or when it
  finalizes now; an unchanged draft that stays draft is left alone (not rewritten);
- a stored draft the run no longer wants is **deleted**;
- a draft whose grace is over finalizes, and the invoices finalized by one chunk are
  numbered in ``numbering_order``: by issue time, then customer, kind and period start.
  The numbers themselves come from the tenant's counter in the chunk's transaction
  (``ports.BillingUnitOfWork.take_numbers``), so a rollback returns them: numbering is
  gapless and follows the order invoices were due.

``ChunkPlan`` collects the decisions for a whole chunk, so the store writes them with a
few batched statements; it decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tallybook.domain.billing.invoice import InvoiceDraft, content_digest
from tallybook.domain.billing.lines import line_to_dict
from tallybook.domain.billing.numbering import numbering_order
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.ids import new_id

DraftKey = tuple[str, datetime, datetime]  # (kind, period start, period end)
Progress = tuple[str, datetime | None, datetime | None]  # (subscription, through, next)


@dataclass(frozen=True, slots=True)
class OpenDraft:
    """A stored draft invoice, as much of it as the comparison needs."""

    id: str
    customer: str
    key: DraftKey
    content_hash: str
    created_at: datetime


@dataclass
class AccountBill:
    """What billing wants stored for one account."""

    drafts: list[tuple[InvoiceDraft, bool]]  # (draft, finalize now)
    progress: list[Progress]
    failed: bool = False  # the account could not be billed: leave everything as it is


@dataclass
class Counts:
    """What a run (or one chunk of it) did, for ``RunResult``."""

    created: int = 0
    updated: int = 0
    finalized: int = 0
    deleted: int = 0
    accounts: int = 0
    subscriptions: int = 0
    failed: int = 0

    def add(self, other: Counts) -> None:
        for name in (
            "created",
            "updated",
            "finalized",
            "deleted",
            "accounts",
            "subscriptions",
            "failed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class InvoiceWrite:
    """One invoice to store: a new draft, a rewritten one, or one finalized now."""

    id: str
    draft: InvoiceDraft
    lines: list[dict[str, Any]]  # ``line_to_dict`` of the draft's lines
    content_hash: str
    created_at: datetime
    finalize: bool
    number: int | None = None  # set by ``ChunkPlan.assign_numbers``


@dataclass(frozen=True, slots=True)
class SlotWrite:
    """A slot (subscription, kind, period start) billed by an invoice."""

    subscription: str
    kind: SlotKind
    period_start: datetime
    invoice_id: str


@dataclass
class ChunkPlan:
    """Every write of one chunk of accounts, decided here and executed by the store."""

    now: datetime
    counts: Counts = field(default_factory=Counts)
    inserts: list[InvoiceWrite] = field(default_factory=list)
    rewrites: list[InvoiceWrite] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    slots: list[SlotWrite] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)

    def add_account(self, stored: dict[DraftKey, OpenDraft], bill: AccountBill) -> None:
        """Compare one account's wanted drafts with its stored ones (see the module doc)."""
        if bill.failed:
            self.counts.failed += 1
            return
        open_drafts = dict(stored)
        for draft, finalize in bill.drafts:
            existing = open_drafts.pop(draft_key(draft), None)
            lines = [line_to_dict(line) for line in draft.lines]
            digest = content_digest(lines)
            write = InvoiceWrite(
                existing.id if existing is not None else new_id("inv"),
                draft,
                lines,
                digest,
                existing.created_at if existing is not None else self.now,
                finalize,
            )
            changed = existing is not None and existing.content_hash != digest
            if existing is None:
                self.counts.created += 1
                self.inserts.append(write)
            elif changed or finalize:
                if changed:
                    self.counts.updated += 1
                self.rewrites.append(write)
            else:
                continue
            if finalize:
                self.counts.finalized += 1
            self.slots += [
                SlotWrite(sid, kind, start, write.id) for sid, kind, start in draft.slots
            ]
        for stale in open_drafts.values():
            self.counts.deleted += 1
            self.deleted.append(stale.id)
        self.progress += bill.progress

    @property
    def to_number(self) -> list[InvoiceWrite]:
        """The invoices this chunk finalizes, in ``numbering_order``."""
        finals = [w for w in (*self.inserts, *self.rewrites) if w.finalize]
        return sorted(finals, key=lambda w: numbering_order(w.draft))

    def assign_numbers(self, last: int) -> None:
        """Number ``to_number`` consecutively, ending at ``last`` (the counter's new value)."""
        finals = self.to_number
        first = last - len(finals) + 1
        for offset, write in enumerate(finals):
            write.number = first + offset

    @property
    def stale_invoices(self) -> list[str]:
        """Invoices whose slot rows are replaced: the deleted and the rewritten drafts."""
        return self.deleted + [w.id for w in self.rewrites]


def draft_key(draft: InvoiceDraft) -> DraftKey:
    return (draft.kind.value, draft.period_start, draft.period_end)
