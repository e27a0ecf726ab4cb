"""The key that makes finding hashes: created once per state directory, readable by the proxy only.

A keyed hash (HMAC) lets an operator recognise a value across logs and exempt it, without the
logs being a dictionary-attack target for short secrets.
"""

from __future__ import annotations

import os
import secrets

from proxy.runtime.paths import StatePaths

KEY_BYTES = 32


def load_or_create_finding_key(paths: StatePaths) -> bytes:
    paths.create()
    path = paths.finding_key
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise OSError(f"{path} is not a {KEY_BYTES}-byte key; remove it to make a new one")
    return key
