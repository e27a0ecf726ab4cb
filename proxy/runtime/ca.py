"""The proxy's CA (created on first use) and the bundle it trusts for upstream TLS."""

from __future__ import annotations

from pathlib import Path

import certifi
from mitmproxy import certs

from proxy.runtime.paths import CA_BASENAME, StatePaths

CA_KEY_SIZE = 2048


def ensure_ca(paths: StatePaths) -> Path:
    """Create the CA in the state directory if it is not there; return its certificate path."""
    paths.create()
    certs.CertStore.from_store(str(paths.ca_dir), CA_BASENAME, CA_KEY_SIZE)
    return paths.ca_cert


def upstream_trust_bundle(paths: StatePaths, extra_ca: Path | None) -> Path:
    """The public roots plus an operator's extra CA (internal services, tests)."""
    paths.create()
    bundle = Path(certifi.where()).read_text(encoding="ascii")
    if extra_ca is not None:
        bundle += "\n" + extra_ca.read_text(encoding="ascii")
    paths.upstream_bundle.write_text(bundle, encoding="ascii")
    return paths.upstream_bundle
