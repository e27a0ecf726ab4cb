"""The audit log's files: the live file, its rotated predecessors, the head, the last sealed line.

Rotation renames the live `audit.log` to `audit.log.<n>` with n one more than the highest present,
so numbers grow with age: `audit.log.1` is the oldest, the live file the newest. Nothing is ever
renamed twice, and archiving old files away leaves the order of the rest intact.

`audit.head` holds the seq and HMAC of the last line written, sealed with its own HMAC under the
audit key (domain-separated from the lines' HMACs). The log itself cannot show that lines were cut
from its end; the head can, and without the key nobody can write a head that matches a cut log.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from proxy.audit.chain import MAC_HEX, BrokenLine, Sealed, mac_of, open_line

TAIL_CHUNK = 64 * 1024
HEAD_WIDTH = 20  # digits of seq in the head file: fixed width, so one pwrite always replaces it
HEAD_SIZE = HEAD_WIDTH + 1 + MAC_HEX + 1 + MAC_HEX + 1
# Line HMACs cover text that starts with "{": this prefix keeps a head MAC from ever being one.
_HEAD_DOMAIN = "glassbreak audit head\x00"


def rotated_files(live: Path) -> list[Path]:
    """The rotated files of `live`, oldest first."""
    numbered: list[tuple[int, Path]] = []
    prefix = live.name + "."
    if not live.parent.is_dir():
        return []
    for candidate in live.parent.iterdir():
        suffix = candidate.name[len(prefix):] if candidate.name.startswith(prefix) else ""
        if suffix.isdigit() and suffix.isascii():
            numbered.append((int(suffix), candidate))
    return [path for _, path in sorted(numbered)]


def chain_files(live: Path) -> list[Path]:
    """Every file of the chain, oldest first: the rotated ones, then the live one."""
    files = rotated_files(live)
    return [*files, live] if live.exists() else files


def next_rotated(live: Path) -> Path:
    files = rotated_files(live)
    number = int(files[-1].name.rsplit(".", 1)[1]) + 1 if files else 1
    return live.with_name(f"{live.name}.{number}")


@dataclass(frozen=True)
class Tail:
    """The end of a file as the chain sees it."""

    last: Sealed | None  # the last line that verifies under the key
    after: int  # lines after it that do not (a crash's partial line, or damage)
    ends_with_newline: bool


def read_tail(path: Path, key: bytes) -> Tail:
    """Find the last sealed line, reading backwards: a large file is not read whole."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Tail(last=None, after=0, ends_with_newline=True)
    if size == 0:
        return Tail(last=None, after=0, ends_with_newline=True)
    with path.open("rb") as handle:
        handle.seek(size - 1)
        ends_with_newline = handle.read(1) == b"\n"
        data = b""
        position = size
        checked = 0  # complete lines at the end already checked (and found broken)
        while True:
            start = max(0, position - TAIL_CHUNK)
            handle.seek(start)
            data = handle.read(position - start) + data
            position = start
            pieces = data.split(b"\n")
            if ends_with_newline:
                pieces.pop()  # the empty piece after the final newline
            # The first piece may be a line cut by the chunk boundary: read more before using it.
            usable = pieces if position == 0 else pieces[1:]
            for index in range(len(usable) - 1 - checked, -1, -1):
                try:
                    sealed = open_line(usable[index].decode("utf-8"), key)
                except (BrokenLine, UnicodeDecodeError):
                    checked += 1
                    continue
                return Tail(last=sealed, after=checked, ends_with_newline=ends_with_newline)
            if position == 0:
                return Tail(last=None, after=checked, ends_with_newline=ends_with_newline)


def first_seq(path: Path, key: bytes) -> int | None:
    """The seq of the file's first line, if it is a sealed one."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(TAIL_CHUNK)
    except FileNotFoundError:
        return None
    try:
        return open_line(first.rstrip(b"\n").decode("utf-8"), key).seq
    except (BrokenLine, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Head:
    seq: int
    mac: str


class HeadState:
    """What the head file holds: a sealed head, nothing, or something the key did not seal."""

    MISSING = "missing"
    UNAUTHENTICATED = "unauthenticated"


def _head_mac(key: bytes, seq: int, mac: str) -> str:
    return mac_of(key, f"{_HEAD_DOMAIN}{seq}:{mac}")


def head_bytes(seq: int, mac: str, key: bytes) -> bytes:
    return f"{seq:0{HEAD_WIDTH}d} {mac} {_head_mac(key, seq, mac)}\n".encode("ascii")


def read_head(path: Path, key: bytes) -> Head | str:
    """The head if its HMAC checks out under the key, else a HeadState saying why not."""
    try:
        text = path.read_bytes()[:HEAD_SIZE].decode("ascii")
    except FileNotFoundError:
        return HeadState.MISSING
    except UnicodeDecodeError:
        return HeadState.UNAUTHENTICATED
    if not text:
        return HeadState.MISSING  # created, and no line written yet (or emptied)
    parts = text.rstrip("\n").split(" ")
    if len(parts) != 3 or not (parts[0].isdigit() and parts[0].isascii()):
        return HeadState.UNAUTHENTICATED
    seq, mac, claimed = int(parts[0]), parts[1], parts[2]
    if len(mac) != MAC_HEX or len(claimed) != MAC_HEX \
            or not hmac.compare_digest(_head_mac(key, seq, mac), claimed):
        return HeadState.UNAUTHENTICATED
    return Head(seq=seq, mac=mac)


def write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]
