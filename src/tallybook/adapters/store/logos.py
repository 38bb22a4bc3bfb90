"""Seller logos in the store (``tenant_logos``): written once per tenant and hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.schema_finance import tenant_logos
from tallybook.domain.finance.logos import Logo


class LogoStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def put_logo(self, tenant_id: str, logo: Logo, now: datetime) -> None:
        """Store ``logo`` unless the tenant has it already (same hash: same bytes)."""
        if self.get_logo(tenant_id, logo.sha256) is not None:
            return
        row = {
            "tenant_id": tenant_id,
            "sha256": logo.sha256,
            "content_type": logo.content_type,
            "width": logo.width,
            "height": logo.height,
            "data": logo.data,
            "created_at": now,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(tenant_logos).values(row))
        except IntegrityError:  # the same logo uploaded at the same moment: stored once
            return

    def get_logo(self, tenant_id: str, sha256: str) -> Logo | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(tenant_logos).where(
                    tenant_logos.c.tenant_id == tenant_id, tenant_logos.c.sha256 == sha256
                )
            ).first()
        if row is None:
            return None
        return Logo(row.sha256, row.content_type, row.width, row.height, bytes(row.data))
