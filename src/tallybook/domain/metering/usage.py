"""A usage read as the event store answers it: which events (``Selection``) and the
partial aggregates per series and bucket (``Partial``) that ``services.usage`` combines.

A weighted meter's selection lists its ``sources`` (``SourceSelection``): the store sums
each source's values (or counts its events) in the same query and combines them with
``domain.metering.meters.weighted_sum``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Series = tuple[str, tuple[str | None, ...]]  # customer, group_by values


@dataclass(frozen=True, slots=True)
class SourceSelection:
    """One source of a weighted meter: its events, value path (None: count) and weight."""

    event_type: str
    value: tuple[str, ...] | None
    multiplier: Decimal
    filter: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Selection:
    """The events a meter query reads; instants are microseconds since the epoch.

    With ``sources`` (a weighted meter) ``event_type``, ``value`` and ``filter`` are
    unused: each source says its own."""

    tenant_id: str
    event_type: str
    start: int
    end: int
    value: tuple[str, ...] | None = None
    filter: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    group_by: tuple[tuple[str, ...], ...] = ()
    customers: tuple[str, ...] | None = None
    sources: tuple[SourceSelection, ...] = ()


@dataclass(frozen=True, slots=True)
class Partial:
    """One SQL group: a series, a bucket (0 without buckets) and its aggregate.

    ``key`` is set for ``unique_count`` by bucket (one row per distinct value);
    ``instant``/``id`` for ``latest`` and readings (to order values).
    """

    series: Series
    bucket: int
    value: Decimal
    key: str | None = None
    instant: int = 0
    id: str = ""
