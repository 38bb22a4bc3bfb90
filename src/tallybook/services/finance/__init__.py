"""Invoices for finance: parties (seller profile, buyer details), tax rates and the built-in
tax calculator, credit notes."""
