"""Inspection: find secrets, personal data and encoded payloads in what leaves the sandbox."""
