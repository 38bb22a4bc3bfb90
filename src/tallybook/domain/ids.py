"""Identifiers of stored things: time-ordered, so they index well and sort by creation."""

from __future__ import annotations

import os
import time
from datetime import datetime


def new_id(prefix: str) -> str:
    """Time-ordered ids (48-bit milliseconds + 64 random bits): index-friendly, sortable."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


def new_id_at(prefix: str, now: datetime) -> str:
    """``new_id`` with the time part taken from ``now`` (the clock of the caller)."""
    return f"{prefix}_{int(now.timestamp() * 1000):012x}{os.urandom(8).hex()}"
