"""The audit trail: one canonical JSON line per decision."""
