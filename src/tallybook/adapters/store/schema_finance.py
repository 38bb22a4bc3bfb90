"""Finance tables: tax rates and credit notes.

``tax_rates``           the tenant's tax rates; immutable once created (lines copy them).
``credit_notes``        credit notes on final invoices; ``number`` is gapless per tenant
                        (``CN-000001``), taken from ``credit_note_counters`` in the
                        transaction that stores the note; ``lines`` a JSON array.
``credit_note_counters`` the last credit-note number given per tenant.
``tenant_logos``        the seller logos uploaded, by SHA-256 (never changed or deleted).
``email_deliveries``    one e-mail per invoice finalized while its tenant e-mails invoices,
                        written in the finalizing transaction (an outbox of its own);
                        retried until ``sent`` or ``failed`` (``domain.finance.delivery``).

The seller profile is a column of ``tenants``, buyer details a column of ``customers``,
and an invoice's taxes and parties columns of ``invoices`` (``schema``, ``schema_billing``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

tax_rates = Table(
    "tax_rates",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("percentage", DecimalType, nullable=False),
    Column("inclusive", Boolean, nullable=False),
    Column("country", String(8), nullable=True),
    Column("description", String(500), nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_tax_rates"),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("invoice_id", String(40), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("refund", String(32), nullable=False),
    Column("grant_id", String(255), nullable=True),
    Column("number_prefix", String(20), nullable=True),  # 0015: the seller's prefix then
    Column("lines", JsonType, nullable=False),
    Column("subtotal", DecimalType, nullable=False),
    Column("tax_total", DecimalType, nullable=False),
    Column("total", DecimalType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_credit_notes"),
    UniqueConstraint("tenant_id", "number", name="uq_credit_notes_number"),
)
Index("ix_credit_notes_invoice", credit_notes.c.tenant_id, credit_notes.c.invoice_id)

credit_note_counters = Table(
    "credit_note_counters",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("last_number", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_credit_note_counters"),
)

email_deliveries = Table(
    "email_deliveries",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("invoice_id", String(40), nullable=False),
    Column("credit_note_id", String(40), nullable=True),  # 0015: a credit note's e-mail
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcMicros, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("recipients", JsonType, nullable=True),
    Column("message_id", String(255), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    Column("sent_at", UtcMicros, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_email_deliveries"),
)
Index("ix_email_deliveries_due", email_deliveries.c.status, email_deliveries.c.next_attempt_at)
Index("ix_email_deliveries_invoice", email_deliveries.c.tenant_id, email_deliveries.c.invoice_id)

# the seller's uploaded logos (0019), by hash: written once, never changed or deleted, so a
# final invoice's parties snapshot (``seller.logo``) always finds the logo it was finalized with
tenant_logos = Table(
    "tenant_logos",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "sha256", name="pk_tenant_logos"),
)
