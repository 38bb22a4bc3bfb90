"""Typed settings. Every field reads ``TALLYBOOK_<NAME>`` from the environment (or .env)
and documents itself: ``tallybook settings`` prints this table and docs/operations.md
lists it. Nothing secret has a silent default."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALLYBOOK_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./tallybook.db",
        description="SQLAlchemy URL: sqlite:///path (embedded default) or postgresql://...",
    )
    api_key: SecretStr | None = Field(
        None,
        description="On first start, becomes the default tenant's admin key; otherwise one is "
        "generated and printed once.",
    )
    host: str = Field("127.0.0.1", description="Address `tallybook serve` binds.")
    port: int = Field(8080, ge=1, le=65535, description="Port `tallybook serve` binds.")
    max_batch_events: int = Field(10_000, ge=1, description="Most events in one POST /v1/events.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest event ingestion body (POST /v1/events, /api/v1/events); 413 above.",
    )
    max_document_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Largest body of every endpoint but event ingestion (catalog documents, "
        "customers, ...): 413 above.",
    )
    max_event_bytes: int = Field(
        64 * 1024, ge=256, description="Largest single event (its properties included)."
    )
    max_property_depth: int = Field(8, ge=1, description="Deepest nesting allowed in properties.")
    max_future_seconds: int = Field(
        300, ge=0, description="Events stamped further ahead than this are rejected."
    )
    default_grace_seconds: int = Field(
        3600, ge=0, description="Default grace period before a closed period's invoice finalizes."
    )
    scheduler_interval_seconds: float = Field(
        60.0, ge=0, description="How often the server closes due periods (0 disables)."
    )
    key_cache_seconds: float = Field(
        10.0,
        ge=0,
        le=300,
        description="How long a process trusts a checked API key before asking the store again: "
        "a key revoked by another process stops working there within this time (0: no cache).",
    )
    events_url: str | None = Field(
        None,
        description="Raw events on ClickHouse (needs tallybook[clickhouse]; docs/scaling.md): "
        "clickhouse://user:password@host:8123/database, or chdb:///path for the in-process "
        "engine. Unset: usage is read from the database itself.",
    )
    event_ledger_retention_months: int | None = Field(
        None,
        ge=1,
        le=1200,
        description="Drop stored events (the dedupe ledger) whose event time is before the "
        "first day of the month this many months before the current one; a retry of such an "
        "id is accepted again (docs/scaling.md). Unset: events are kept forever.",
    )
    outbox_enabled: bool = Field(
        True,
        description="Record facts (invoice.*, subscription.*) in the outbox for webhooks; "
        "false records none and sends no webhooks.",
    )
    live_rollups: bool = Field(
        True,
        description="Write hourly usage rollups in the ingest transaction and answer live "
        "usage (customer usage, previews, alerts) from them; false reads raw events.",
    )
    alerts_enabled: bool = Field(
        True,
        description="Mark the customers each ingest touched and evaluate their alerts "
        "after commit (a background evaluator inside `tallybook serve`).",
    )
    alert_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the alert evaluator looks for work it was not woken for "
        "(work left by another process or a killed one).",
    )
    gc_freeze: bool = Field(
        True,
        description="After a serving process has started (`tallybook serve`, or uvicorn's "
        "`create_app` factory), move every object alive then out of the garbage collector's "
        "reach (`gc.freeze()`), so collections during requests do not rescan the app's "
        "long-lived objects (fewer latency spikes).",
    )
    alert_debounce_seconds: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Least time between the starts of two alert evaluator passes: under "
        "sustained ingest a customer is evaluated at most once per this many seconds "
        "(0: evaluate again as soon as a pass ends).",
    )
    webhook_worker: bool = Field(
        True,
        description="Run the webhook delivery worker inside `tallybook serve` (false when "
        "separate `tallybook worker` processes deliver).",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="Time a receiver has to answer one delivery attempt."
    )
    webhook_concurrency: int = Field(
        200, ge=1, le=10_000, description="Delivery attempts one worker keeps in flight at most."
    )
    webhook_endpoint_concurrency: int = Field(
        16, ge=1, le=1000, description="Attempts in flight to one endpoint, per worker, at most."
    )
    webhook_poll_seconds: float = Field(
        0.5, gt=0, le=60, description="How often an idle delivery worker looks for new messages."
    )
    webhook_backoff_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Multiplies the retry schedule (+5 s ... 24 h); below 1 only for tests.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-Proto and "
        "X-Forwarded-For are honoured ('*' for any); empty: none (portal cookies are Secure "
        "only when the request itself came over https).",
    )
    portal_session_hours: float = Field(
        8.0, gt=0, le=24 * 30, description="How long a portal login lasts (hours)."
    )
    stripe_api_key: SecretStr | None = Field(
        None,
        description="Stripe secret key (sk_test_... / sk_live_...): set, finalized invoices are "
        "pushed to Stripe (needs `pip install 'tallybook[stripe]'`); unset, no sync.",
    )
    stripe_api_base: str | None = Field(
        None, description="Stripe API base URL (tests point it at a local stand-in)."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret (whsec_...) of the Stripe webhook endpoint that calls "
        "POST /v1/providers/stripe/webhook; unset, every event is refused.",
    )
    stripe_concurrency: int = Field(
        4, ge=1, le=64, description="Invoices pushed to Stripe at once by one process."
    )
    stripe_timeout_seconds: float = Field(
        30.0, gt=0, le=120, description="Time Stripe has to answer one request."
    )
    stripe_lease_seconds: int = Field(
        300,
        ge=5,
        le=3600,
        description="How long a sync worker holds an invoice it pushes; a worker killed "
        "mid-push leaves its invoices to the others after this.",
    )
    stripe_reconcile_days: int = Field(
        35, ge=1, le=400, description="Window (days back) of the daily reconciliation run."
    )
    portal_link_minutes: float = Field(
        15.0,
        gt=0,
        le=24 * 60,
        description="How long a customer portal link (POST /v1/customers/{id}/portal-sessions) "
        "can be opened (minutes); it opens once.",
    )
    smtp_url: SecretStr | None = Field(
        None,
        description="SMTP server for invoice e-mails: smtp://[user:password@]host[:port] "
        "(?starttls=true), smtp+starttls://... or smtps://...; unset: no e-mails are sent "
        "(deliveries wait as pending).",
    )
    smtp_from: str | None = Field(
        None,
        description="Sender of invoice e-mails; unset: the tenant's seller e-mail (a tenant "
        "with neither gets failed deliveries).",
    )
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Time the SMTP server has for one message."
    )
    public_url: str | None = Field(
        None,
        description="Base URL people reach this server at (https://billing.example.com): "
        "invoice e-mails link to the invoice page there; unset: no link.",
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_json: bool = Field(True, description="Structured JSON logs on stderr.")
    sql_echo: bool = Field(False, description="Log every SQL statement (debugging).")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("database_url must be sqlite:///... or postgresql://...")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
