"""Analytics tables: backtest jobs, pricing experiments and their assignments, and the
acquisition spend CAC is computed from.

``backtests``              one row per backtest job: the request, its status and progress
                           (``done`` of ``total`` subscriptions), the result document when
                           it succeeded and the error when it failed.
``experiments``            one row per experiment key: the two plans, the treatment share,
                           the window and whether it was stopped.
``experiment_assignments`` (experiment, customer) -> arm: the primary key makes an
                           assignment once and for ever.
``acquisition_spend``      money spent acquiring customers per month and currency.
``invoice_totals``         per final invoice, line customer and month: its usage revenue
                           (``domain.analytics.usage_revenue``) with the invoice's currency
                           and issue time (both fixed once final), written in the
                           transaction that finalizes the invoice; MRR sums it, leaving out
                           invoices whose status is no longer final (a void) by the status
                           index.
``period_usage``           per subscription, closed billing period and usage charge: the
                           usage billed on its final ``period`` invoice
                           (``domain.analytics.period_usage``; charge ``""`` marks the period
                           as summarized), written in the transaction that finalizes it and
                           removed when a late-event adjustment corrects the period; usage
                           percentiles and the allowance model read it instead of events.
"""

from __future__ import annotations

from sqlalchemy import (
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

backtests = Table(
    "backtests",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("done", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("request", JsonType, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", JsonType, nullable=True),
    Column("error", JsonType, nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_backtests"),
)

experiments = Table(
    "experiments",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("control_plan", String(255), nullable=False),
    Column("treatment_plan", String(255), nullable=False),
    Column("share", DecimalType, nullable=False),
    Column("start_at", UtcMicros, nullable=False),
    Column("end_at", UtcMicros, nullable=True),
    Column("stopped_at", UtcMicros, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key", name="pk_experiments"),
)

experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("experiment_key", String(255), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("arm", String(16), nullable=False),
    Column("assigned_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "experiment_key", "customer_id", name="pk_experiment_assignments"
    ),
)
Index(
    "ix_experiment_assignments_customer",
    experiment_assignments.c.tenant_id,
    experiment_assignments.c.customer_id,
)

acquisition_spend = Table(
    "acquisition_spend",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("month", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "month", "currency", name="pk_acquisition_spend"),
)

invoice_totals = Table(
    "invoice_totals",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("invoice_id", String(40), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("month", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issue_at", UtcMicros, nullable=False),
    Column("usage_total", DecimalType, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "invoice_id", "customer_id", "month", name="pk_invoice_totals"
    ),
    ForeignKeyConstraint(
        ["tenant_id", "invoice_id"],
        ["invoices.tenant_id", "invoices.id"],
        name="fk_invoice_totals_tenant_id_invoices",
    ),
)

period_usage = Table(
    "period_usage",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("period_start", UtcMicros, nullable=False),
    Column("charge", String(255), nullable=False),
    Column("period_end", UtcMicros, nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("used", DecimalType, nullable=False),
    Column("amount", DecimalType, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("included", DecimalType, nullable=True),
    Column("span_start", UtcMicros, nullable=True),
    Column("span_end", UtcMicros, nullable=True),
    PrimaryKeyConstraint(
        "tenant_id", "subscription_id", "period_start", "charge", name="pk_period_usage"
    ),
)
Index("ix_period_usage_start", period_usage.c.tenant_id, period_usage.c.period_start)

# the overview's MRR/retention snapshot per tenant (``services.mrr_snapshots``): a
# document of amounts as decimal strings, replaced by each computation (issue 14)
mrr_snapshots = Table(
    "mrr_snapshots",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("computed_at", UtcMicros, nullable=False),
    Column("document", JsonType, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_mrr_snapshots"),
)
