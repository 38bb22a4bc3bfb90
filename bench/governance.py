"""Governance benchmark: the impact figure of a catalog change, and the audit log's
append cost and verification time.

    .venv/bin/python bench/governance.py                        # SQLite, the issue's size
    .venv/bin/python bench/governance.py --db postgresql://postgres@127.0.0.1:55432/bench
    .venv/bin/python bench/governance.py --customers 1000 --events 100000 --audit-entries 100000

1. Impact: ``bench/billing_run.py``'s set-up (N customers on the ``bench`` plan, calendar
   monthly from 2026-01-01, M events in January), clock at 2026-02-01T02:00Z. One catalog
   change is proposed (``GovernanceService.propose``: dry-run apply, checks, the
   billed-period scan and the impact, which re-rates every subscriber's last closed
   period, January, under the changed plan). Timed: the whole proposal. Target (issue
   12): under 10 s for 10,000 subscribers over 1,000,000 events on both stores.
2. Audit: the tenant's chain is filled to E entries (set-up: sealed in Python and
   inserted in batches, not timed), then ``--appends`` single appends are timed
   (``AuditService.record``, one transaction each, as every audited API call does), then
   ``AuditService.verify`` over the whole chain.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from billing_run import AS_OF, CATALOG, TENANT, settings, setup
from common import machine

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.audit import _json_text
from tallybook.adapters.store.schema_governance import audit_heads, audit_log
from tallybook.bootstrap import build
from tallybook.domain.governance.audit import GENESIS, AuditRecord, seal
from tallybook.services.governance import Actor, Proposal

BATCH = 5000


def changed_catalog() -> dict[str, Any]:
    plan = CATALOG["plans"][0]
    charges = [dict(c) for c in plan["charges"]]
    charges[0]["amount"] = "59.00"
    charges[1]["unit_amount"] = "0.0025"
    return {"plans": [{**plan, "charges": charges}]}


def measure_impact(db: str) -> dict[str, Any]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    proposal = Proposal(changed_catalog(), datetime(2026, 3, 1, tzinfo=UTC), reason="bench")
    started = time.perf_counter()
    view = container.governance.propose(TENANT, Actor("key_bench", "bench"), proposal)
    wall = time.perf_counter() - started
    container.close()
    impact = view.row.impact
    return {
        "store": container.engine.dialect.name,
        "propose_s": round(wall, 2),
        "customers": impact.get("customers"),
        "billed": impact.get("billed"),
        "would_bill": impact.get("would_bill"),
    }


def fill_chain(db: str, entries: int) -> None:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    prev, at = GENESIS, AS_OF
    rows: list[dict[str, Any]] = []
    with container.engine.begin() as conn:
        for seq in range(1, entries + 1):
            record = AuditRecord(
                "bench", "key_bench", "POST /v1/customers", f"customers/c{seq}", None,
                {"id": f"c{seq}", "currency": "USD", "name": None}, None,
            )  # fmt: skip
            entry = seal(seq, at + timedelta(microseconds=seq), record, prev)
            prev = entry.hash
            rows.append(
                {
                    "tenant_id": TENANT,
                    "seq": seq,
                    "at": entry.at,
                    "actor": entry.actor,
                    "actor_key": entry.actor_key,
                    "action": entry.action,
                    "object": entry.object,
                    "before": None,
                    "after": _json_text(entry.after),
                    "reason": None,
                    "prev_hash": entry.prev_hash,
                    "hash": entry.hash,
                }
            )
            if len(rows) >= BATCH:
                conn.execute(insert(audit_log), rows)
                rows.clear()
        if rows:
            conn.execute(insert(audit_log), rows)
        conn.execute(insert(audit_heads).values(tenant_id=TENANT, seq=0, hash=GENESIS))
        conn.execute(
            update(audit_heads)
            .where(audit_heads.c.tenant_id == TENANT)
            .values(seq=entries, hash=prev)
        )
    container.close()


def measure_audit(db: str, appends: int) -> dict[str, Any]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    record = AuditRecord(
        "bench", "key_bench", "PATCH /v1/customers/{customer_id}", "customers/c1", None,
        {"id": "c1", "name": "renamed"}, "bench",
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(appends):
        container.audit.record(TENANT, record)
    append_s = time.perf_counter() - started
    started = time.perf_counter()
    result = container.audit.verify(TENANT)
    verify_s = time.perf_counter() - started
    container.close()
    assert result.ok, result
    return {
        "append_ms": round(append_s / appends * 1000, 3),
        "verify_s": round(verify_s, 2),
        "verified_entries": result.entries,
    }


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=1000)
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-governance.db').resolve()}"
    if db.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    print(machine())
    print(f"before set-up: {load()}")
    setup(db, args.customers, args.events)
    print(f"before impact: {load()}")
    impact = measure_impact(db)
    print(
        f"impact on {impact['store']}: {impact['customers']:,} customers re-rated over "
        f"{args.events:,} events; proposal with impact in {impact['propose_s']} s "
        f"(billed {impact['billed']}, would bill {impact['would_bill']})"
    )
    started = time.perf_counter()
    fill_chain(db, args.audit_entries)
    print(f"set-up: {args.audit_entries:,} audit entries in {time.perf_counter() - started:.1f} s")
    print(f"before audit: {load()}")
    audit = measure_audit(db, args.appends)
    print(
        f"audit at {audit['verified_entries']:,} entries: {audit['append_ms']} ms per append "
        f"({args.appends:,} single appends), verify {audit['verify_s']} s"
    )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
