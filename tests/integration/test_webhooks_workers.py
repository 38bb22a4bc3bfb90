"""Several delivery workers on one store never send one attempt twice.

Two workers (each with its own engine and connection pool, as two processes would have)
drain the same queue at once: on PostgreSQL they claim with ``FOR UPDATE SKIP LOCKED``,
on SQLite ``BEGIN IMMEDIATE`` serialises the claims. The receiver counts every request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_webhooks import webhook_attempts
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.webhooks import OutboxMessage
from tests.webhook_receiver import Received, running_receiver

N = 300


def test_two_workers_never_double_deliver(container: Container, settings: Settings) -> None:
    with running_receiver() as receiver:

        def slow(_r: Received) -> tuple[int, dict[str, str]]:
            time.sleep(0.002)  # let the workers' claims interleave
            return 200, {}

        receiver.answer = slow
        created = container.webhooks.create("default", receiver.url, ["*"])
        assert created.secret is not None
        receiver.secrets.append(created.secret)
        now = datetime.now(UTC)
        messages = [
            OutboxMessage("invoice.paid", now, {"invoice": f"inv_{n}"}, f"c{n % 7}")
            for n in range(N)
        ]
        with container.engine.begin() as conn:
            OutboxWriter().add(conn, "default", messages, now)
        # fan out first: a drain that finds nothing due (the other worker holding the
        # outbox rows) returns at once, and this test is about the attempts' claims
        assert container.outbox_queue.dispatch(datetime.now(UTC)) == N
        second = build(settings, migrate=False)
        workers = [
            container.delivery_worker(),
            second.delivery_worker(),
        ]
        for worker in workers:
            worker.options.batch = 40
        made = [0, 0]

        def run(index: int) -> None:
            made[index] = asyncio.run(workers[index].drain())

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
        finally:
            second.close()
        counts = Counter(receiver.ids())
        assert len(counts) == N, f"every message delivered: {len(counts)} {made}"
        assert max(counts.values()) == 1, "no message delivered twice"
        assert all(r.verified == [0] for r in receiver.received)
        assert sum(made) == N and min(made) > 0, f"both workers delivered: {made}"
        with container.engine.connect() as conn:
            attempts = conn.execute(select(func.count()).select_from(webhook_attempts))
            assert attempts.scalar_one() == N
        data = sorted(r.json["data"]["invoice"] for r in receiver.received)
        assert data == sorted(f"inv_{n}" for n in range(N))
