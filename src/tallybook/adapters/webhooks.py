"""Webhook delivery over HTTP (httpx), signed per Standard Webhooks v1.

Each attempt POSTs the JSON body ``{"id", "type", "occurred_at", "sequence", "data"}`` with
``webhook-id`` (the message id, the same on every attempt), ``webhook-timestamp`` (Unix
seconds of this attempt) and ``webhook-signature``: one ``v1,<base64 HMAC-SHA256>`` per
valid secret, space-separated (two during a rotation's overlap). Signatures come from the
``standardwebhooks`` package, so they are exactly what its ``Webhook.verify`` accepts.

Redirects are not followed (a 3xx is a failed attempt); at most 64 KiB of an answer's
body is read and dropped (a receiver cannot make the worker buffer megabytes); transport errors become an
``error`` string, never an exception, and never contain a secret.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
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
    """Sends attempts with one pooled ``httpx.AsyncClient`` per event loop.

    ``timeout`` (seconds) bounds each attempt as a whole: connect, send and the answer's
    status line; ``max_connections`` bounds open connections in total.
    """

    def __init__(self, timeout: float = 10.0, max_connections: int = 200):
        self.timeout = timeout
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=self._limits,
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def send(self, claimed: Claimed) -> Sent:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        body, headers = signed_request(claimed, started)
        status, retry_after, error = None, None, None
        try:
            request = self._http().build_request("POST", claimed.url, content=body, headers=headers)
            async with asyncio.timeout(self.timeout):  # the whole attempt, not each phase
                response = await self._http().send(request, stream=True)
                await _drain(response)
            status = response.status_code
            retry_after = response.headers.get("retry-after")
        except (httpx.TimeoutException, TimeoutError):
            error = f"timeout after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        except OSError as exc:  # e.g. a URL whose host cannot be encoded
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        duration = int((time.perf_counter() - clock) * 1000)
        return Sent(status, retry_after, error, started, duration)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


async def _drain(response: httpx.Response) -> None:
    """Read and drop a small answer body (so the connection is kept alive and reused);
    a larger one is cut off by closing the connection."""
    read = 0
    try:
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read > MAX_ANSWER_BYTES:
                break
    finally:
        await response.aclose()
