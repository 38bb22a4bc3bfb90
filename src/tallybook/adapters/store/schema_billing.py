"""Billing tables (customers, plans, subscriptions, invoices). Filled in by the billing work."""

from __future__ import annotations
