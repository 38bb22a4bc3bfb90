"""Subscriptions as values: customers, phases, quantities, discounts and billing periods."""
