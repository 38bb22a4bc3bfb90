"""Billing use cases: billing runs, stored invoices and previews."""
