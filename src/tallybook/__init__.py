"""Tallybook: self-hosted metering and billing for usage-based and hybrid SaaS pricing."""

__version__ = "0.1.0"
