"""Send a few usage events to a Tallybook server with the Python SDK.

    TALLYBOOK_API_KEY=<key> TALLYBOOK_URL=http://127.0.0.1:8080 python examples/sdk_quickstart.py

``make run`` starts a local server and prints an API key. Running the script twice is
safe: the events with fixed ids are counted once (the second run reports duplicates).
Exits with status 1 if any event was rejected or could not be delivered.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tallybook.client import ApiError, Client, NetworkError, TallybookError


def report(error: TallybookError, events: list[dict[str, Any]]) -> None:
    print(f"problem with {len(events)} event(s): {error}", file=sys.stderr)


def main() -> int:
    api_key = os.environ.get("TALLYBOOK_API_KEY")
    if not api_key:
        print("set TALLYBOOK_API_KEY (make run prints one)", file=sys.stderr)
        return 2
    base_url = os.environ.get("TALLYBOOK_URL", "http://127.0.0.1:8080")

    with Client(api_key, base_url, max_retries=3, on_error=report) as tallybook:
        # Buffered: returns the generated id at once; sent in the background.
        for tokens in (1200, 800, 2500):
            event_id = tallybook.track("acme", "api_call", {"tokens": tokens, "model": "gpt-4o"})
            print("tracked", event_id)

        # Your own id makes re-sending the same fact harmless; Decimals go out as strings.
        tallybook.track(
            "acme",
            "storage",
            {"gb": Decimal("12.5")},
            id="quickstart-acme-storage-2026-11-01",
            timestamp=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        )
        tallybook.flush()  # optional: leaving the `with` block flushes too

        # Synchronous batch: the server's tally comes back at once.
        try:
            result = tallybook.send(
                [
                    {
                        "id": f"quickstart-acme-seat-{n}",
                        "customer": "acme",
                        "type": "seat_added",
                        "timestamp": "2026-11-01T12:00:00Z",
                        "properties": {"seat": n},
                    }
                    for n in range(3)
                ]
            )
            print(
                f"send(): {result.accepted} accepted, {result.duplicates} duplicates, "
                f"{result.rejected} rejected"
            )
        except (ApiError, NetworkError) as error:
            print(f"send() failed: {error}", file=sys.stderr)
            return 1

    stats = tallybook.stats
    print(stats)
    return 1 if stats.failed or stats.rejected else 0


if __name__ == "__main__":
    sys.exit(main())
