"""Pricing: one module per pricing model, one registry, and rating of charges into lines."""
