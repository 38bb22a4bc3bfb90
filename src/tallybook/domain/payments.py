"""Payment-provider rules (CONTRACT.md Part 2, "Payment provider: Stripe"): idempotency
keys, what a synced invoice should look like remotely, and how reconciliation classifies
one local invoice against what the provider holds.

Idempotency keys are ``tb:{tenant}:{invoice}:{op}[:{line}]`` (``op`` one of ``customer``,
``invoice``, ``item``, ``finalize``, ``void``); the customer create is keyed by the
invoice whose push creates it. One remote customer per local customer comes from the
stored id and a metadata search before every create, done under a per-customer lease
that every worker process honours (the sync service), not from the key. Providers forget
keys after a while (Stripe: 24 hours); the key only covers a retry of the same request.

Reconciliation categories (one per row):

    ok               remote exists, same total, status agrees
    amount_mismatch  remote total differs (e.g. a coupon added by hand in the provider):
                     reported, never overwritten
    status_mismatch  totals agree, statuses do not (paid remotely, open locally; void on one
                     side only)
    missing_remote   the provider has no invoice for a finalized local one (a void one, or
                     one paid here without the provider, needs none: ok)
    orphan_remote    the provider has an invoice naming a local one that does not exist (or
                     is still a draft), or a second invoice for the same local one (a void
                     one collects nothing: ok)

Drift amount per row: ``|local - remote|`` for an amount mismatch, the local total for a
status mismatch or a missing invoice, the remote total for an orphan; 0 when ok.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tallybook.domain.webhooks import OutboxMessage, amount, instant

ZERO = Decimal(0)


class SyncStatus(StrEnum):
    """The sync state of one invoice with one provider (``external.stripe.status``)."""

    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


class Category(StrEnum):
    OK = "ok"
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    MISSING_REMOTE = "missing_remote"
    ORPHAN_REMOTE = "orphan_remote"


class Action(StrEnum):
    """What ``tallybook reconcile stripe --fix`` does about a row (``none``: nothing;
    ``review``: a person must look, nothing is overwritten)."""

    NONE = "none"
    PUSH = "push"
    MARK_PAID = "mark_paid"
    VOID_REMOTE = "void_remote"
    REVIEW = "review"


# The remote status (Stripe's invoice statuses) that mirrors each local one.
REMOTE_STATUS = {"finalized": "open", "paid": "paid", "void": "void"}


def idempotency_key(
    tenant_id: str, subject: str, op: str, line: int | None = None, generation: int = 1
) -> str:
    """``tb:{tenant}:{invoice}:{op}[:{line}]`` (``subject``: the invoice id, for every op
    including ``customer``). A second remote invoice for one local invoice (the
    first vanished from the provider) uses ``{op}@{generation}``: the first one's keys
    would replay the vanished invoice."""
    name = op if generation == 1 else f"{op}@{generation}"
    key = f"tb:{tenant_id}:{subject}:{name}"
    return key if line is None else f"{key}:{line}"


def line_key(index: int) -> str:
    """The ``tallybook_line`` metadata value of a pushed line: its position on the invoice."""
    return str(index)


@dataclass(frozen=True, slots=True)
class LocalSide:
    """A local invoice as reconciliation sees it."""

    invoice: str
    number: str | None
    currency: str
    total: Decimal
    status: str  # finalized | paid | void


@dataclass(frozen=True, slots=True)
class RemoteSide:
    """A provider invoice as reconciliation sees it (amounts in major units)."""

    id: str
    currency: str
    total: Decimal
    status: str  # draft | open | paid | void | uncollectible


@dataclass(frozen=True, slots=True)
class Verdict:
    category: Category
    drift: Decimal
    action: Action


def classify(local: LocalSide | None, remote: RemoteSide | None) -> Verdict:
    """The category, drift amount and fix action of one local/remote pair (either may be
    missing, not both)."""
    if local is None:
        if remote is None:
            raise ValueError("classify needs a local or a remote invoice")
        if remote.status == "void":
            return Verdict(Category.OK, ZERO, Action.NONE)  # collects nothing
        action = Action.VOID_REMOTE if remote.status in ("draft", "open") else Action.REVIEW
        return Verdict(Category.ORPHAN_REMOTE, abs(remote.total), action)
    if remote is None:
        if local.status != "finalized":  # void, or paid here: nothing to collect there
            return Verdict(Category.OK, ZERO, Action.NONE)
        return Verdict(Category.MISSING_REMOTE, abs(local.total), Action.PUSH)
    if remote.currency != local.currency or remote.total != local.total:
        drift = (
            abs(local.total) if remote.currency != local.currency else local.total - remote.total
        )
        return Verdict(Category.AMOUNT_MISMATCH, abs(drift), Action.REVIEW)
    if remote.status == REMOTE_STATUS.get(local.status):
        return Verdict(Category.OK, ZERO, Action.NONE)
    return Verdict(Category.STATUS_MISMATCH, abs(local.total), _status_action(local, remote))


def _status_action(local: LocalSide, remote: RemoteSide) -> Action:
    if local.status == "finalized" and remote.status == "paid":
        return Action.MARK_PAID  # pull the paid status
    if local.status == "void" and remote.status in ("draft", "open"):
        return Action.VOID_REMOTE
    if local.status == "finalized" and remote.status == "draft":
        return Action.PUSH  # a push stopped before finalizing: finish it
    return Action.REVIEW


def drift_message(
    *,
    run_id: str,
    provider: str,
    start: datetime,
    end: datetime,
    checked: int,
    ok: int,
    counts: Mapping[str, int],
    drift: Mapping[str, Decimal],
    at: datetime,
) -> OutboxMessage:
    """The ``reconciliation.drift`` message of a run that found drift (tenant-wide:
    no customer). ``drift_amount`` is null when the drift spans several currencies
    (``drift_amounts`` has each; amounts are never added across currencies)."""
    single = next(iter(drift.values())) if len(drift) == 1 else (ZERO if not drift else None)
    data = {
        "run": run_id,
        "provider": provider,
        "from": instant(start),
        "to": instant(end),
        "checked": checked,
        "ok": ok,
        "counts": dict(counts),
        "drift_amount": amount(single),
        "drift_amounts": {currency: f"{value:f}" for currency, value in sorted(drift.items())},
    }
    return OutboxMessage("reconciliation.drift", at, data, None)
