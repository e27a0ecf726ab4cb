"""Where a Glassbreak process keeps its state: CA, audit log, upstream trust bundle."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CA_BASENAME = "mitmproxy"  # mitmproxy's file names inside confdir; kept so its tools find them


def default_state_dir() -> Path:
    explicit = os.environ.get("GLASSBREAK_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "glassbreak"


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / f"{CA_BASENAME}-ca-cert.pem"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    @property
    def audit_key(self) -> Path:
        return self.root / "audit.key"

    @property
    def audit_head(self) -> Path:
        return self.root / "audit.head"

    @property
    def finding_key(self) -> Path:
        return self.root / "finding.key"

    @property
    def upstream_bundle(self) -> Path:
        return self.root / "upstream-ca-bundle.pem"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
