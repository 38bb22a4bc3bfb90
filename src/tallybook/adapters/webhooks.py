"""Webhook delivery over HTTP (aiohttp's client), signed per Standard Webhooks v1.

Each attempt POSTs the JSON body ``{"id", "type", "occurred_at", "sequence", "data"}`` with
``webhook-id`` (the message id, the same on every attempt), ``webhook-timestamp`` (Unix
seconds of this attempt) and ``webhook-signature``: one ``v1,<base64 HMAC-SHA256>`` per
valid secret, space-separated (two during a rotation's overlap). Signatures come from the
``standardwebhooks`` package, so they are exactly what its ``Webhook.verify`` accepts.

The client is aiohttp's rather than httpx's (which the SDK uses): measured side by side
on this machine (``bench/webhooks.py --clients``), aiohttp sends 10x more requests per
CPU-second, and delivery is CPU-bound in the client.

Redirects are not followed (a 3xx is a failed attempt); at most 64 KiB of an answer's
body is read and dropped (a receiver cannot make the worker buffer megabytes); transport errors become an
``error`` string, never an exception, and never contain a secret.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp
import orjson
from standardwebhooks.webhooks import Webhook

from tallybook import __version__
from tallybook.domain.webhooks import Claimed, Sent, message_body

MAX_ERROR = 300
MAX_ANSWER_BYTES = 64 * 1024  # read (and drop) this much of an answer's body at most


def signed_request(claimed: Claimed, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and Standard Webhooks headers of one attempt at ``now`` (wall clock)."""
    body = orjson.dumps(
        message_body(
            claimed.message_id, claimed.type, claimed.occurred_at, claimed.sequence, claimed.data
        )
    )
    signatures = " ".join(
        Webhook(secret).sign(claimed.message_id, now, body) for secret in claimed.secrets
    )
    headers = {
        "content-type": "application/json",
        "user-agent": f"Tallybook-Webhooks/{__version__}",
        "webhook-id": claimed.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
    return body, headers


class HttpSender:
    """Sends attempts with one pooled ``aiohttp.ClientSession`` per event loop.

    ``timeout`` (seconds) bounds each attempt as a whole: connect, send and the answer's
    status line and (small) body; ``max_connections`` bounds open connections in total.
    """

    def __init__(self, timeout: float = 10.0, max_connections: int = 200):
        self.timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def send(self, claimed: Claimed) -> Sent:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        body, headers = signed_request(claimed, started)
        status, retry_after, error = None, None, None
        try:
            async with asyncio.timeout(self.timeout):  # the whole attempt, not each phase
                async with self._http().post(
                    claimed.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("retry-after")
                    await _drain(response)
        except TimeoutError:
            error = f"timeout after {self.timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: a URL aiohttp cannot use (InvalidURL is one); OSError: e.g. a
            # host that cannot be encoded
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        duration = int((time.perf_counter() - clock) * 1000)
        return Sent(status, retry_after, error, started, duration)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read and drop a small answer body (so the connection is kept alive and reused);
    a larger one is cut off by closing the connection."""
    read = 0
    while chunk := await response.content.read(16 * 1024):
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            response.close()  # drops the connection instead of reading the rest
            return
