"""The admin listener: /metrics and /healthz (and, later, the escalation API)."""
