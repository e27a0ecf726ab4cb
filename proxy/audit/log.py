"""Where audit lines go: a chained, rotated file in the state directory, and optionally stdout.

Each line is sealed (proxy/audit/chain.py) and handed to the kernel with one `write(2)` on an
O_APPEND descriptor before the answer it records leaves: no buffer to lose on SIGTERM or even
SIGKILL, and no wait for the disk (there is no fsync; a page-cache write takes microseconds).
The head file is rewritten in place with one `pwrite(2)`, after the line: it never names a line
that was not handed to the kernel whole. On start, the head is compared with the last sealed line
found: when it names a later line, lines were cut from the end while no process was running, and
the `start` line says so, sealed (`head_seq`, `lost_lines`). Rotation by size renames the live file
and starts the next one with a `rotate` line chained to the last line of the old one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from proxy.audit.chain import GENESIS, ChainEvent, seal
from proxy.audit.files import (
    HEAD_SIZE,
    Head,
    Tail,
    first_seq,
    head_bytes,
    next_rotated,
    read_head,
    read_tail,
    rotated_files,
    write_all,
)
from proxy.keys import load_or_create_key

logger = logging.getLogger("glassbreak")

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MIN_MAX_BYTES = 4096  # smaller, and the rotate line alone would fill a file
KEY_NAME = "audit.key"
HEAD_NAME = "audit.head"


class Line(Protocol):
    """What the log writes: anything that renders itself as one JSON object."""

    def to_line(self, now: float) -> str: ...


class AuditLog:
    def __init__(self, path: Path, *, key: bytes | None = None, to_stdout: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 on_error: Callable[[], None] | None = None) -> None:
        if max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"the audit log's size limit must be at least {MIN_MAX_BYTES} bytes")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._key = key if key is not None else load_or_create_key(path.parent / KEY_NAME)
        self._to_stdout = to_stdout
        self._max_bytes = max_bytes
        self._on_error = on_error
        self._closed = False
        self._broken = False  # a failed write may have left part of a line behind
        start = self._resume()
        self._descriptor = self._open()
        self._head = os.open(path.parent / HEAD_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        self._append(start.to_line(time.time()))
        # A longer head file (garbage) would keep its tail after the pwrite: cut it.
        with contextlib.suppress(OSError):
            if os.fstat(self._head).st_size > HEAD_SIZE:
                os.ftruncate(self._head, HEAD_SIZE)

    def _resume(self) -> ChainEvent:
        """Continue the chain after the last sealed line a previous process wrote."""
        tail = read_tail(self.path, self._key)
        fields: dict[str, object] = {"pid": os.getpid()}
        if tail.last is None and (tail.after or not tail.ends_with_newline):
            # Nothing in the live file verifies with this key (another key, or not a chained
            # log): keep it apart, untouched, and start a chain of our own.
            kept = next_rotated(self.path)
            self.path.rename(kept)
            logger.warning("glassbreak: %s has no line sealed with %s; kept as %s",
                           self.path, KEY_NAME, kept.name)
            fields["unverified_file"] = kept.name
            tail = read_tail(self.path, self._key)
        elif tail.last is None and rotated_files(self.path):
            tail = read_tail(rotated_files(self.path)[-1], self._key)
        self._seq = tail.last.seq + 1 if tail.last else 0
        self._prev = tail.last.mac if tail.last else GENESIS
        if tail.after and not tail.ends_with_newline:
            # A crash cut the last line short (a line is written with its newline in one call):
            # say so, sealed, so that `audit verify` can tell a recorded crash from an edit.
            # Whole lines that do not verify are not excused: they were edited or inserted.
            fields["discarded_lines"] = 1
        self._broken = not tail.ends_with_newline
        fields.update(self._compare_head(tail))
        return ChainEvent(ChainEvent.START, **fields)

    def _compare_head(self, tail: Tail) -> dict[str, object]:
        """What the head says about the end of the previous run, when it disagrees with the log.

        The head is written only after its line was handed to the kernel whole, so even a crash
        leaves it at or before the last sealed line: a head beyond it means sealed lines were
        removed. No tolerance for the crash's partial line: it was never in the head.
        """
        head = read_head(self.path.parent / HEAD_NAME, self._key)
        last_seq = tail.last.seq if tail.last is not None else -1
        if isinstance(head, Head):
            if head.seq > last_seq:
                logger.warning("glassbreak: the audit head says seq %d was written but the log "
                               "ends at seq %d: %d line(s) are gone", head.seq, last_seq,
                               head.seq - last_seq)
                return {"head_seq": head.seq, "lost_lines": head.seq - last_seq}
            return {}
        if tail.last is not None:
            # A chain exists, so a head was written after its lines: it was removed or forged.
            logger.warning("glassbreak: the audit head is %s; lines cut from the end of the "
                           "log before this start cannot be ruled out", head)
            return {"head": head}
        return {}

    def _open(self) -> int:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(descriptor).st_size
        # The seq of the file's first line, for the rotate line that will follow it.
        self._file_first = first_seq(self.path, self._key) if self._size else None
        return descriptor

    def write(self, record: Line) -> None:
        if self._closed:
            logger.error("glassbreak: audit line after the log was closed; not written")
            self._report()
            return
        self._append(record.to_line(time.time()))

    def _append(self, body: str) -> None:
        line, mac = seal(body, self._seq, self._prev, self._key)
        data = (line + "\n").encode("utf-8")
        if self._broken:
            data = b"\n" + data  # end the partial line first: the next line stays whole
        try:
            write_all(self._descriptor, data)
        except OSError as error:
            # The chain does not advance: the next line chains to the last one written.
            logger.error("glassbreak: cannot write the audit log: %s", error.strerror)
            self._broken = True
            self._report()
            return
        self._broken = False
        if self._size == 0:
            self._file_first = self._seq
        self._size += len(data)
        self._seq += 1
        self._prev = mac
        try:
            os.pwrite(self._head, head_bytes(self._seq - 1, mac, self._key), 0)
        except OSError as error:
            logger.error("glassbreak: cannot write the audit head: %s", error.strerror)
            self._report()
        if self._to_stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self._size >= self._max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        target = next_rotated(self.path)
        # Sealed into the next file's first line: where the file being closed begins and ends.
        previous: dict[str, object] = {"previous_file": target.name,
                                       "previous_last_seq": self._seq - 1}
        if self._file_first is not None:
            previous["previous_first_seq"] = self._file_first
        try:
            self.path.rename(target)
            descriptor = self._open()
        except OSError as error:  # keep writing to the file we have
            logger.error("glassbreak: cannot rotate the audit log: %s", error.strerror)
            self._report()
            return
        os.close(self._descriptor)
        self._descriptor = descriptor
        self._append(ChainEvent(ChainEvent.ROTATE, **previous).to_line(time.time()))

    def _report(self) -> None:
        if self._on_error is not None:
            self._on_error()

    def close(self) -> None:
        """Write the `stop` line and close: a log that ends with one was stopped cleanly."""
        if self._closed:
            return
        self._append(ChainEvent(ChainEvent.STOP, pid=os.getpid()).to_line(time.time()))
        self._closed = True
        os.close(self._descriptor)
        os.close(self._head)
