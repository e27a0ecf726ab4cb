"""Prometheus metrics: every metric Glassbreak exports, declared in one place."""
