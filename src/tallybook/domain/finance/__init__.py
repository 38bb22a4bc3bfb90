"""Invoices for finance: the parties on an invoice, tax rates and taxes, credit notes,
revenue recognition (pure rules, standard library only)."""
