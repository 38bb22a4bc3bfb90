"""Tallybook Python SDK: send usage events to a Tallybook server.

Depends on httpx and the standard library only, and imports nothing else from
``tallybook``, so it can be vendored or packaged on its own::

    from tallybook.client import Client

    with Client("tb_live_...", "https://billing.example.com") as tallybook:
        tallybook.track("acme", "api_call", {"tokens": 1200, "model": "gpt-4o"})

``Client`` (threads) and ``AsyncClient`` (asyncio) buffer events and send them in batches
from the background, retrying with the same event ids so the server's deduplication
counts each event exactly once. ``check(customer, feature, units=1)`` asks the server
whether a customer may use a feature now (an :class:`Entitlement`; docs/entitlements.md).
Full guide: docs/sdk.md. Errors: ``tallybook.client.errors``.
"""

from tallybook.client.async_client import AsyncClient, AsyncOnError
from tallybook.client.config import SDK_VERSION as __version__
from tallybook.client.entitlements import Entitlement
from tallybook.client.errors import (
    ApiError,
    ClientClosedError,
    DeliveryError,
    EventsRejectedError,
    InvalidEventError,
    NetworkError,
    QueueFullError,
    RejectedEvent,
    TallybookError,
)
from tallybook.client.events import format_timestamp, new_event_id
from tallybook.client.results import BatchResult, ClientStats
from tallybook.client.sync_client import Client, OnError

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncOnError",
    "BatchResult",
    "Client",
    "ClientClosedError",
    "ClientStats",
    "DeliveryError",
    "Entitlement",
    "EventsRejectedError",
    "InvalidEventError",
    "NetworkError",
    "OnError",
    "QueueFullError",
    "RejectedEvent",
    "TallybookError",
    "__version__",
    "format_timestamp",
    "new_event_id",
]
