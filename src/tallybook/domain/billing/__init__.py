"""Billing: the slot schedule, proration, period lines, adjustments, invoices and totals."""
