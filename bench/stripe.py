"""Stripe sync benchmark against the local stand-in (tests/stripe_standin): N customers
billed for January (one invoice each, two lines), then ``tallybook sync stripe`` (or,
with ``--via worker``, ``tallybook worker --once``: the outbox-driven path) in a fresh
process (invoices/s, peak RSS of that process), then one reconciliation run over all N
invoices (seconds). The load average is printed before and after.

    .venv/bin/python bench/stripe.py                         # SQLite, 10,000 invoices
    .venv/bin/python bench/stripe.py --db postgresql://postgres@127.0.0.1:55432/bench
    .venv/bin/python bench/stripe.py --invoices 1000         # quick
    .venv/bin/python bench/stripe.py --via worker            # the outbox worker pushes

The stand-in runs in this process (uvicorn thread, uvloop), so it shares the machine's
two cores with the sync process: the figures are Tallybook's and the stand-in's together,
a floor for what a real Stripe account (tens of ms per request, rate limits of 100
requests/s in live mode) would allow. Set-up (customers, subscriptions, the billing run)
is not timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# this file is named stripe.py: keep its folder off the path, or ``import stripe`` (the
# SDK) would import this script; put the repository on it for ``tests.stripe_standin``
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from tests.integration.stripe_helpers import CATALOG  # noqa: E402
from tests.stripe_standin import API_KEY, running_standin  # noqa: E402

from tallybook.bootstrap import build  # noqa: E402
from tallybook.config import Settings  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--via",
        choices=("sync", "worker"),
        default="sync",
        help="push with `tallybook sync stripe` (default) or `tallybook worker --once`",
    )
    args = parser.parse_args()
    if args.invoices < 1:
        parser.error("--invoices must be at least 1")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='tb-stripe-')}/bench.db"
    with running_standin() as standin:
        settings = Settings(
            database_url=url,
            log_json=False,
            scheduler_interval_seconds=0,
            stripe_api_key=API_KEY,
            stripe_api_base=standin.url,
            stripe_concurrency=args.concurrency,
        )
        container = build(settings)
        container.tenants.bootstrap_default(None)
        started = time.perf_counter()
        container.catalog.apply("default", CATALOG)
        for n in range(args.invoices):
            container.customers.create("default", f"c{n:06d}", currency="USD")
            container.subscriptions.create("default", f"c{n:06d}", "monthly", start=START)
        container.billing.run("default", AS_OF)
        print(f"set-up: {args.invoices} invoices in {time.perf_counter() - started:.1f} s")

        env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYBOOK_")}
        env.update(
            {
                "TALLYBOOK_DATABASE_URL": url,
                "TALLYBOOK_STRIPE_API_KEY": API_KEY,
                "TALLYBOOK_STRIPE_API_BASE": standin.url,
                "TALLYBOOK_STRIPE_CONCURRENCY": str(args.concurrency),
                "TALLYBOOK_LOG_JSON": "false",
            }
        )
        started = time.perf_counter()
        command = ["sync", "stripe"] if args.via == "sync" else ["worker", "--once"]
        done = subprocess.run(
            [sys.executable, "-m", "tallybook.cli", *command],
            env=env,
            capture_output=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pushed = len(standin.state.invoices)
        print(
            f"sync: {pushed} invoices in {seconds:.1f} s = {pushed / seconds:.0f} invoices/s, "
            f"{len(standin.app.log)} requests, peak RSS {rss_mib:.0f} MiB "
            f"(exit {done.returncode}, concurrency {args.concurrency}, via {args.via})"
        )
        assert container.payments is not None
        now = container.clock.now()
        started = time.perf_counter()
        run = container.payments.reconciliation.run(
            "default", now - timedelta(days=1), now + timedelta(days=1)
        )
        seconds = time.perf_counter() - started
        print(
            f"reconcile: {run.checked} invoices in {seconds:.1f} s "
            f"({run.ok} ok, drift {dict(run.drift) or 0})"
        )
        container.close()
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
