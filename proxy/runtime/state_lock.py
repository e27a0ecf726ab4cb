"""One process per state directory: the audit chain and its head file have one writer."""

from __future__ import annotations

import fcntl
import os
from typing import IO

from proxy.runtime.paths import StatePaths

LOCK_NAME = "glassbreak.lock"


class StateDirectoryBusy(OSError):
    """Another Glassbreak process holds the state directory."""


def hold_state_directory(paths: StatePaths) -> IO[str]:
    """Lock the state directory for this process's lifetime (keep the returned file open).

    Two writers would interleave the audit chain and overwrite each other's head file, which
    `audit verify` would then report as tampering: refuse to start instead.
    """
    paths.create()
    handle = open(paths.root / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held open
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StateDirectoryBusy(
            f"another Glassbreak process uses the state directory {paths.root}; give each "
            "process its own --state-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
