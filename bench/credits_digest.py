"""Digest of a billing run with credits: to check a change leaves every result unchanged.

    .venv/bin/python bench/credits_digest.py --customers 2000 --events 200000   # set-up + run
    .venv/bin/python bench/credits_digest.py --db sqlite:///copy.db --run-only --customers 2000  # again

Sets up ``bench/credits.py``'s data (3 grants per customer), runs the billing run at
``AS_OF`` in this process, then prints one SHA-256 over every row of ``invoices``,
``credit_entries`` and ``credit_grants`` (and one per table). Generated ids (48-bit time +
random part) differ between runs, so each is replaced by its prefix and the order of its
first appearance after the rows are sorted with ids blanked: two runs that store the same
invoices (JSON, hashes, totals, numbers) and the same ledger rows print the same digest.
SQLite only (rows read with the raw driver, exactly as stored).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from billing_run import AS_OF, TENANT, reset_billing, settings, setup
from credits import add_grants

from tallybook.adapters.clock import FixedClock
from tallybook.bootstrap import build

ID = re.compile(r"\b([a-z]{2,5})_[0-9a-f]{28}\b")
TABLES = ("invoices", "credit_entries", "credit_grants")


def digest(path: str) -> dict[str, str]:
    """SHA-256 per table and overall of the stored rows, generated ids normalised."""
    conn = sqlite3.connect(path)
    texts = {}
    for table in TABLES:
        rows = [repr(row) for row in conn.execute(f"SELECT * FROM {table}")]
        rows.sort(key=lambda r: (ID.sub(r"\1_", r), r))
        texts[table] = rows
    conn.close()
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"{match.group(1)}#{len(names)}")

    result = {}
    whole = hashlib.sha256()
    for table in TABLES:
        one = hashlib.sha256()
        for row in texts[table]:
            line = (ID.sub(name, row) + "\n").encode()
            one.update(line)
            whole.update(line)
        result[table] = f"{one.hexdigest()} ({len(texts[table])} rows)"
    result["all"] = whole.hexdigest()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="SQLite URL (default: a new file)")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--run-only", action="store_true", help="reuse --db's set-up")
    args = parser.parse_args()
    db = args.db or f"sqlite:///{Path('bench-credits-digest.db').resolve()}"
    if not args.run_only:
        for suffix in ("", "-wal", "-shm"):
            Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        setup(db, args.customers, args.events)
    reset_billing(db)
    add_grants(db, args.customers)  # the grants and their entries written afresh
    container = build(settings(db), clock=FixedClock(AS_OF), migrate=False)
    result = container.billing.run(TENANT, AS_OF)
    container.close()
    print(f"run: {result.accounts} accounts, {result.finalized} finalized")
    for table, value in digest(db.removeprefix("sqlite:///")).items():
        print(f"{table}: {value}")


if __name__ == "__main__":
    main()
