"""Where audit lines go: a file in the state directory, and optionally stdout."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from proxy.audit.record import AuditRecord, DnsAuditRecord


class AuditLog:
    def __init__(self, path: Path, *, to_stdout: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Line-buffered: every decision reaches the file as a whole line, even if we crash next.
        self._file: TextIO = path.open("a", encoding="utf-8", buffering=1)
        self._to_stdout = to_stdout
        self.path = path

    def write(self, record: AuditRecord | DnsAuditRecord) -> None:
        line = record.to_line(time.time())
        self._file.write(line + "\n")
        if self._to_stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def close(self) -> None:
        self._file.close()
