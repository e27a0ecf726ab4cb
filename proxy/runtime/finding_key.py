"""The state directory's keys: created once, 0600, readable by the proxy only.

`finding.key` makes finding hashes: a keyed hash (HMAC) lets an operator recognise a value across
logs and exempt it, without the logs being a dictionary-attack target for short secrets.
`audit.key` seals the audit log's HMAC chain: whoever can edit the log but not read this key
cannot hide the edit.
"""

from __future__ import annotations

from proxy.keys import load_or_create_key
from proxy.runtime.paths import StatePaths


def load_or_create_finding_key(paths: StatePaths) -> bytes:
    paths.create()
    return load_or_create_key(paths.finding_key)


def load_or_create_audit_key(paths: StatePaths) -> bytes:
    paths.create()
    return load_or_create_key(paths.audit_key)
