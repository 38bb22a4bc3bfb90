"""A shipper process for the kill -9 test (run as a script; chDB allows one data path
per process, so the shipping and the counting happen in processes of their own).

    python clickhouse_shipper_child.py DATABASE_URL CHDB_PATH ship LIMIT [DIE_AFTER]
    python clickhouse_shipper_child.py DATABASE_URL CHDB_PATH count

``ship`` ships every pending batch, ``LIMIT`` claimed per round (a zero lease, so the next
process may take what a dead one claimed) and prints ``SHIPPED SKIPPED`` (batches, and
events found already in ClickHouse); with ``DIE_AFTER`` the process kills itself with
SIGKILL right after the ClickHouse insert of that many batches (before the commit that
marks the last one shipped). ``count`` prints ``{"raw": rows without FINAL,
"final": rows with FINAL}`` as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import timedelta

from tallybook.adapters.clickhouse.executors import ChdbExecutor, ensure_schema
from tallybook.adapters.clickhouse.shipper import Shipper
from tallybook.adapters.clock import SystemClock
from tallybook.adapters.store.db import make_engine


def main() -> None:
    url, path, mode = sys.argv[1:4]
    executor = ChdbExecutor(path, "shipped")
    ensure_schema(executor)
    if mode == "count":
        raw = executor.query("SELECT count() FROM shipped.events")[0][0]
        final = executor.query("SELECT count() FROM shipped.events FINAL")[0][0]
        print(json.dumps({"raw": int(raw), "final": int(final)}))
        return
    inserted = 0

    def after_insert(batch_id: str) -> None:
        nonlocal inserted
        inserted += 1
        if len(sys.argv) > 5 and inserted >= int(sys.argv[5]):
            os.kill(os.getpid(), signal.SIGKILL)

    shipper = Shipper(
        make_engine(url),
        executor,
        SystemClock().now,
        lease=timedelta(0),
        after_insert=after_insert,
    )
    print(shipper.ship_all(limit=int(sys.argv[4])), shipper.skipped_keys)


if __name__ == "__main__":
    main()
