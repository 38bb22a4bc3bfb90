"""Credits tables: grants and their append-only ledger entries.

``credit_grants``   one row per grant (never updated: its remaining is the sum of its
                    entries); ``applies_to`` is the contract's JSON value.
``credit_entries``  the ledger, one money ledger per (customer, currency): ``seq`` counts
                    the customer's entries from 1 in the order they were written (the
                    primary key makes two writers of one ledger collide instead of
                    interleaving), ``amount`` is signed and ``balance_after`` the
                    ledger's balance after the entry. Rows are only ever inserted.
``commitments``     one row per commitment term of a subscription (prepaid or postpaid);
                    ``renew`` is 0 or 1; a renewal is a new row.
``credit_top_ups``  one automatic top-up rule per customer (``threshold``, ``target``).

A grant written for a plan's ``credit_grant`` charge (or its rollover) names the
subscription and the charge (``subscription_id``, ``charge_key``); other grants leave
them null.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

credit_grants = Table(
    "credit_grants",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("category", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("effective_at", UtcMicros, nullable=False),
    Column("expires_at", UtcMicros, nullable=True),
    Column("applies_to", JsonType, nullable=False),
    Column("purchase_price", DecimalType, nullable=True),
    Column("description", String(500), nullable=True),
    Column("source", String(32), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("subscription_id", String(40), nullable=True),
    Column("charge_key", String(100), nullable=True),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_credit_grants"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_credit_grants_tenant_id_customers",
    ),
)
Index("ix_credit_grants_customer", credit_grants.c.tenant_id, credit_grants.c.customer_id)

credit_entries = Table(
    "credit_entries",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("grant_id", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("at", UtcMicros, nullable=False),
    Column("invoice_id", String(40), nullable=True),
    Column("line", Integer, nullable=True),
    Column("balance_after", DecimalType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer_id", "currency", "seq", name="pk_credit_entries"),
)
Index("ix_credit_entries_grant", credit_entries.c.tenant_id, credit_entries.c.grant_id)
Index("ix_credit_entries_invoice", credit_entries.c.tenant_id, credit_entries.c.invoice_id)

commitments = Table(
    "commitments",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("account_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("term_start", UtcMicros, nullable=False),
    Column("term_end", UtcMicros, nullable=False),
    Column("applies_to", JsonType, nullable=False),
    Column("rollover_fraction", DecimalType, nullable=False),
    Column("renew", Integer, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_commitments"),
)
Index("ix_commitments_account", commitments.c.tenant_id, commitments.c.account_id)
Index("ix_commitments_subscription", commitments.c.tenant_id, commitments.c.subscription_id)

credit_top_ups = Table(
    "credit_top_ups",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("threshold", DecimalType, nullable=False),
    Column("target", DecimalType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_credit_top_ups"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_credit_top_ups_tenant_id_customers",
    ),
)
