"""Credits benchmark: the billing run with every customer holding 3 grants against the same
run without credits, in one invocation; and ``GET /v1/customers/{id}/credits`` latency.

    .venv/bin/python bench/credits.py                                  # SQLite, 10,000 x 1,000,000
    .venv/bin/python bench/credits.py --customers 1000 --events 100000  # quick
    .venv/bin/python bench/credits.py --db postgresql://postgres@127.0.0.1:55449/bench

Set-up is ``bench/billing_run.py``'s (customers, subscriptions, events written in bulk).
Then, each in a fresh process (so peak RSS is the run's): a run without credits, the same
run with 3 grants per customer (a priority-10 usage grant expiring in February, a
never-expiring usage grant and an ``all`` grant; each customer's grant entries written
in bulk), and the run without credits again (the order's cache effects show). Invoices
are forgotten between runs. Last, the live balance (``CreditService.summary``: grants,
stored drafts and the upcoming invoice, so it reads the current period's usage) is timed
for ``--samples`` random customers at the run's instant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing_run import AS_OF, START, TENANT, customer_id, reset_billing, run_only, settings, setup
from sqlalchemy import delete, insert

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_credits import credit_entries, credit_grants
from tallybook.bootstrap import build

GRANTS = (  # (suffix, amount, priority, expires, applies_to)
    ("promo", Decimal("5.00"), 10, True, "usage"),
    ("paid", Decimal("20.00"), 50, False, "usage"),
    ("all", Decimal("30.00"), 60, False, "all"),
)


def add_grants(db: str, n_customers: int) -> None:
    """3 grants per customer and their ``grant`` entries, in bulk."""
    container = build(settings(db), migrate=False)
    february = START.replace(month=3)
    grants, entries = [], []
    for n in range(n_customers):
        cid = customer_id(n)
        balance = Decimal(0)
        for seq, (suffix, amount, priority, expires, scope) in enumerate(GRANTS, start=1):
            gid = f"{cid}_{suffix}"
            balance += amount
            grants.append(
                {"tenant_id": TENANT, "id": gid, "customer_id": cid, "currency": "USD",
                 "amount": amount, "category": "promotional", "priority": priority,
                 "effective_at": START, "expires_at": february if expires else None,
                 "applies_to": scope, "purchase_price": None, "description": None,
                 "source": "api", "created_at": START}
            )  # fmt: skip
            entries.append(
                {"tenant_id": TENANT, "customer_id": cid, "currency": "USD", "seq": seq,
                 "grant_id": gid, "type": "grant", "amount": amount, "at": START,
                 "invoice_id": None, "line": None, "balance_after": balance,
                 "created_at": START}
            )  # fmt: skip
    with container.engine.begin() as conn:
        conn.execute(delete(credit_entries))
        conn.execute(delete(credit_grants))
        conn.execute(insert(credit_grants), grants)
        conn.execute(insert(credit_entries), entries)
    container.close()


def drop_grants(db: str) -> None:
    container = build(settings(db), migrate=False)
    with container.engine.begin() as conn:
        conn.execute(delete(credit_entries))
        conn.execute(delete(credit_grants))
    container.close()


def timed_run(db: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--run-only", "--db", db],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def balance_latency(db: str, n_customers: int, samples: int) -> dict[str, float]:
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    rng = random.Random(7)
    times = []
    for _ in range(samples):
        cid = customer_id(rng.randrange(n_customers))
        started = time.perf_counter()
        container.credits.summary(TENANT, cid)
        times.append((time.perf_counter() - started) * 1000)
    container.close()
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2], 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--run-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-credits.db').resolve()}"
    if args.run_only:
        print(json.dumps(run_only(db, None)))
        return
    if db.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    setup(db, args.customers, args.events)
    results = {}
    for label, grants in (("off", False), ("on", True), ("off again", False)):
        reset_billing(db)
        if grants:
            add_grants(db, args.customers)
        else:
            drop_grants(db)
        results[label] = timed_run(db)
        fig = results[label]
        print(
            f"credits {label:9}: {fig['customers']:,} customers in {fig['wall_s']} s "
            f"({fig['customers_per_s']:,}/s), peak RSS {fig['peak_rss_mb']} MB, "
            f"{fig['invoices_finalized']:,} invoices finalized"
        )
    off = min(results["off"]["wall_s"], results["off again"]["wall_s"])
    extra = (results["on"]["wall_s"] / off - 1) * 100
    print(f"credits cost: {extra:+.1f}% wall time against the faster run without credits")
    reset_billing(db)
    add_grants(db, args.customers)
    latency = balance_latency(db, args.customers, args.samples)
    print(
        f"live balance (CreditService.summary) at {args.events:,} stored events, "
        f"{args.samples} customers: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms"
    )


if __name__ == "__main__":
    main()
