"""mitmproxy addons: thin adapters that gather facts, call `decide`, and apply the result."""
