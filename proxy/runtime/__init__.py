"""Assembling one Glassbreak process: state directory, mitmproxy master, addons."""
