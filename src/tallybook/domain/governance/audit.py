"""The audit log's hash chain (CONTRACT.md, governance).

Every mutation of a tenant's data is one entry ``{seq, at, actor, actor_key, action,
object, before, after, reason}``; entries form one chain per tenant:

    hash = sha256(prev_hash + canonical JSON of the entry)

where ``prev_hash`` is the previous entry's ``hash`` (``GENESIS``, 64 zeros, for the
first) and the canonical JSON is the entry's fields with sorted keys, no spaces and
ASCII escapes (RFC 8785's idea without its number rules: amounts are strings here).
Changing any stored field of an entry changes its hash, and changing a stored hash
breaks the next entry's ``prev_hash``: ``first_broken`` names the first such entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

GENESIS = "0" * 64
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What a caller asks to record (the chain position and hash are added on append).

    ``actor`` is the key's name, ``actor_key`` its id ("cli" from the command line);
    ``action`` such as ``POST /v1/customers`` or ``catalog.change.approve``; ``object``
    the resource path (``customers/acme``); ``before`` / ``after`` JSON values or None."""

    actor: str
    actor_key: str
    action: str
    object: str
    before: Any = None
    after: Any = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A stored entry of the chain."""

    seq: int
    at: datetime
    actor: str
    actor_key: str
    action: str
    object: str
    before: Any
    after: Any
    reason: str | None
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed fields (everything but the two hashes)."""
        return entry_body(self.seq, self.at, self.record())

    def record(self) -> AuditRecord:
        return AuditRecord(
            self.actor,
            self.actor_key,
            self.action,
            self.object,
            self.before,
            self.after,
            self.reason,
        )


def instant_text(at: datetime) -> str:
    """RFC 3339 UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the canonical
    form of ``at``)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_body(seq: int, at: datetime, record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": instant_text(at),
        "actor": record.actor,
        "actor_key": record.actor_key,
        "action": record.action,
        "object": record.object,
        "before": record.before,
        "after": record.after,
        "reason": record.reason,
    }


def canonical(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only: one text per JSON value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical(body))`` as lowercase hex."""
    return hashlib.sha256((prev_hash + canonical(body)).encode("ascii")).hexdigest()


def seal(seq: int, at: datetime, record: AuditRecord, prev_hash: str) -> AuditEntry:
    """The entry ``record`` becomes at chain position ``seq`` after ``prev_hash``."""
    digest = chain_hash(prev_hash, entry_body(seq, at, record))
    return AuditEntry(
        seq,
        at,
        record.actor,
        record.actor_key,
        record.action,
        record.object,
        record.before,
        record.after,
        record.reason,
        prev_hash,
        digest,
    )


@dataclass(frozen=True, slots=True)
class Verification:
    """``ok`` when every entry's hash and link hold; ``broken_at`` is the first bad
    ``seq`` (None when ok); ``entries`` how many were checked."""

    ok: bool
    entries: int
    broken_at: int | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoredLink:
    """An entry as stored: ``before_text`` / ``after_text`` are the canonical JSON texts
    that were hashed (None for null). Verification reads these, never re-parsing JSON."""

    seq: int
    at: datetime
    actor: str
    actor_key: str
    action: str
    object: str
    before_text: str | None
    after_text: str | None
    reason: str | None
    prev_hash: str
    hash: str


def _text(value: str | None) -> str:
    """``json.dumps(value)`` of a string or None (ASCII escapes), without the encoder."""
    return "null" if value is None else encode_basestring_ascii(value)


def body_text(link: StoredLink) -> str:
    """``canonical(entry_body(...))`` built from the stored texts: the same characters
    (sorted keys: action, actor, actor_key, after, at, before, object, reason, seq)."""
    return (
        '{"action":' + _text(link.action)
        + ',"actor":' + _text(link.actor)
        + ',"actor_key":' + _text(link.actor_key)
        + ',"after":' + (link.after_text or "null")
        + ',"at":' + _text(instant_text(link.at))
        + ',"before":' + (link.before_text or "null")
        + ',"object":' + _text(link.object)
        + ',"reason":' + _text(link.reason)
        + ',"seq":' + str(link.seq)
        + "}"
    )  # fmt: skip


def verify(links: Iterable[StoredLink]) -> Verification:
    """Walk a tenant's stored entries in ``seq`` order and check the chain: sequence
    without gaps from 1, each ``prev_hash`` equal to the previous ``hash``, each ``hash``
    recomputed from the entry's fields."""
    prev = GENESIS
    count = 0
    sha256 = hashlib.sha256
    for link in links:
        count += 1
        if link.seq != count:
            return Verification(False, count, link.seq, "sequence_gap")
        if link.prev_hash != prev:
            return Verification(False, count, link.seq, "prev_hash_mismatch")
        if sha256((prev + body_text(link)).encode("ascii")).hexdigest() != link.hash:
            return Verification(False, count, link.seq, "hash_mismatch")
        prev = link.hash
    return Verification(True, count, None)


MAX_VALUE_CHARS = 65_536


def bounded(value: Any) -> Any:
    """``value`` as recorded: JSON values over ``MAX_VALUE_CHARS`` canonical characters
    are replaced by ``{"truncated": true, "sha256": ..., "chars": n}`` (the digest still
    ties the entry to the full value)."""
    if value is None:
        return None
    text = canonical(value)
    if len(text) <= MAX_VALUE_CHARS:
        return value
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    return {"truncated": True, "sha256": digest, "chars": len(text)}


def check_complete(result: Verification, head_seq: int) -> Verification:
    """A chain that verifies but ends before the head's ``seq`` lost its last entries."""
    if result.ok and result.entries != head_seq:
        return Verification(False, result.entries, result.entries + 1, "entries_missing")
    return result


SECRET_FIELDS = frozenset({"key", "secret", "previous_secret"})
SECRET_PREFIXES = ("tb_", "whsec_")
# a customer portal link's single-use token (``tbl_...``, services/portal_sessions.py),
# wherever it appears in a string (the link's ``url``)
_LINK_TOKEN = re.compile(r"tbl_[A-Za-z0-9_-]+")


def redacted(value: Any) -> Any:
    """``value`` with secrets replaced by ``"[redacted]"``: a field named ``key`` or
    ``secret`` holding an API key (``tb_...``) or a webhook secret (``whsec_...``), and any
    customer portal link token (``tbl_...``) inside a string. A new key's answer is audited
    without the key itself; a portal link's answer without its token."""
    if isinstance(value, str):
        return _LINK_TOKEN.sub("[redacted]", value) if "tbl_" in value else value
    if isinstance(value, dict):
        return {
            k: "[redacted]"
            if k in SECRET_FIELDS and isinstance(v, str) and v.startswith(SECRET_PREFIXES)
            else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value
