"""Labelled accuracy corpus: generated fake secrets, PII and near misses (see generate.py)."""
