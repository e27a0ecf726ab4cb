"""Glassbreak: an egress firewall for sandboxed AI agents."""

__version__ = "0.1.0"
