"""Credits: the prepaid money ledger and commitments (pure rules)."""
