"""Client settings shared by ``Client`` and ``AsyncClient``, validated up front."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypedDict

from tallybook.client.delivery import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "SDK_VERSION", "ClientOptions", "ClientSettings"]

SDK_VERSION = "0.1.0"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


class ClientSettings(TypedDict, total=False):
    """The keyword-only tunables ``Client`` and ``AsyncClient`` accept (``**options``).

    Each is optional; defaults and meaning are those of ``ClientOptions`` below and of
    the configuration table in docs/sdk.md. Seconds are floats, counts are ints.
    """

    batch_size: int
    flush_interval: float
    max_queue: int
    max_retries: int
    backoff_base: float
    backoff_max: float
    timeout: float
    enqueue_timeout: float


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Every tunable of a client; see the configuration table in docs/sdk.md."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    batch_size: int = 500
    flush_interval: float = 1.0
    max_queue: int = 100_000
    max_retries: int = 8
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    timeout: float = 10.0
    enqueue_timeout: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(self.base_url, str) or not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        _check(self.batch_size >= 1, "batch_size must be at least 1")
        _check(self.max_queue >= 1, "max_queue must be at least 1")
        _check(self.max_retries >= 0, "max_retries cannot be negative")
        _check(_positive(self.flush_interval), "flush_interval must be a positive number")
        _check(_positive(self.timeout), "timeout must be a positive number")
        _check(_non_negative(self.backoff_base), "backoff_base cannot be negative")
        _check(_non_negative(self.backoff_max), "backoff_max cannot be negative")
        _check(_non_negative(self.enqueue_timeout), "enqueue_timeout cannot be negative")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.backoff_base, self.backoff_max)

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``."""
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"tallybook-python/{SDK_VERSION}",
            },
        }

    def __repr__(self) -> str:  # never print the key
        return f"ClientOptions(base_url={self.base_url!r}, batch_size={self.batch_size!r}, ...)"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0
