"""Check an audit log's HMAC chain; name the first line edited, inserted, deleted or cut short.

Files are checked in chain order (oldest rotated file first, the live file last), as one chain.
A broken line is classified by what follows it: when the next sealed line chains to the line
before, the broken one was inserted; a sealed `start` line that declares it (`discarded_lines`)
marks a crash's partial line, reported as a note, not a problem; otherwise the line was edited.
A sealed line whose `seq` jumps ahead follows deleted lines. A chain that does not begin at seq 0
lost its start, unless the caller says where it legitimately begins (`Start`). A `start` line that
recorded lines missing at the end of the previous run (`lost_lines`) or no authenticated head
(`head`) reports the cut. The end of the log is compared with the head file when the live file is
checked last; where the head is required, a missing or forged one is a problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from proxy.audit.chain import GENESIS, BrokenLine, ChainEvent, Sealed, open_line
from proxy.audit.files import Head, HeadState
from proxy.audit.record import F_PREV, F_SEQ

EDITED = "edited"
INSERTED = "inserted"
DELETED = "deleted"
TRUNCATED = "truncated"
HEAD = "head"


@dataclass(frozen=True)
class Start:
    """Where the chain checked may begin, when not at seq 0 with the genesis line.

    `seq`: exactly there (the operator knows what was archived); `archived`: at the `rotate` line
    that opens the oldest file kept (whole files archived away, never part of one).
    """

    seq: int | None = None
    archived: bool = False


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class Report:
    lines: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Chain:
    """Where the check stands: the last sealed line that fit."""

    expected: int | None = None
    mac: str | None = None
    last: Sealed | None = None
    at: tuple[Path, int] | None = None
    file_first: dict[Path, int] = field(default_factory=dict)  # each file's first sealed seq


def verify(files: list[Path], key: bytes, head: Head | str | None = None, *,
           start: Start | None = None) -> Report:
    """Check `files` as one chain. `head`: the head file's content (a Head, or a HeadState when it
    is missing or forged) when it must be compared with the end, None when it does not apply."""
    report, chain = Report(), _Chain()
    start = start or Start()
    head_mac: list[str] = []  # the mac of the line the head names, once seen
    for path in files:
        raw = path.read_bytes()
        ends_with_newline = raw.endswith(b"\n") or not raw
        texts = raw.split(b"\n")
        if ends_with_newline:
            texts.pop()
        index = 0
        while index < len(texts):
            sealed = _open(texts[index], key)
            if isinstance(sealed, str):
                lines = _FileLines(path, texts, ends_with_newline)
                skip_to = _broken(report, chain, lines, index, why=sealed, key=key)
                if skip_to is None:
                    return report
                index = skip_to
                continue
            problem = _check_link(report, chain, sealed, path, index + 1, start=start) \
                or _check_start_line(sealed, path, index + 1) \
                or _check_rotate_line(chain, sealed, path, index + 1)
            if problem is not None:
                report.problem = problem
                return report
            report.lines += 1
            chain.expected, chain.mac, chain.last = sealed.seq + 1, sealed.mac, sealed
            chain.at = (path, index + 1)
            chain.file_first.setdefault(path, sealed.seq)
            if report.first_seq is None:
                report.first_seq = sealed.seq
            report.last_seq = sealed.seq
            if isinstance(head, Head) and sealed.seq == head.seq:
                head_mac.append(sealed.mac)
            index += 1
    _check_end(report, chain, head, files, head_mac[0] if head_mac else None)
    return report


def _open(text: bytes, key: bytes) -> Sealed | str:
    try:
        return open_line(text.decode("utf-8"), key)
    except UnicodeDecodeError:
        return "not UTF-8"
    except BrokenLine as error:
        return str(error)


@dataclass(frozen=True)
class _FileLines:
    path: Path
    texts: list[bytes]
    ends_with_newline: bool


def _broken(report: Report, chain: _Chain, lines: _FileLines, index: int, *, why: str,
            key: bytes) -> int | None:
    """Classify a line that does not verify; the index to go on from, or None (reported)."""
    path, texts = lines.path, lines.texts
    line = index + 1
    following = index + 1
    sealed: Sealed | None = None
    while following < len(texts):
        opened = _open(texts[following], key)
        if not isinstance(opened, str):
            sealed = opened
            break
        following += 1
    broken = following - index
    expected = chain.expected if chain.expected is not None else 0
    mac = chain.mac if chain.mac is not None else GENESIS
    fits = sealed is not None and sealed.seq == expected and sealed.prev == mac
    if fits and sealed is not None and sealed.event == ChainEvent.START \
            and sealed.fields.get("discarded_lines") == broken:
        report.notes.append(f"{path}:{line}: {broken} line(s) left unfinished by a process "
                            "that did not stop cleanly (recorded by the restart at line "
                            f"{following + 1})")
        return following
    if sealed is None and following == len(texts) and not lines.ends_with_newline \
            and broken == 1:
        report.problem = Problem(path, line, TRUNCATED, "the last line is cut short")
    elif _claims_place(texts[index], expected, mac):
        report.problem = Problem(path, line, EDITED, why)
    elif fits:
        report.problem = Problem(path, line, INSERTED,
                                 f"{broken} line(s) that do not belong to the chain ({why})")
    else:
        report.problem = Problem(path, line, EDITED, why)
    return None


def _claims_place(text: bytes, seq: int, prev: str) -> bool:
    """The broken line says it is the next link: it was there, and its content was changed."""
    try:
        fields = json.loads(text)
    except ValueError:
        return False
    return isinstance(fields, dict) and fields.get(F_SEQ) == seq and fields.get(F_PREV) == prev


def _check_link(report: Report, chain: _Chain, sealed: Sealed, path: Path, line: int, *,
                start: Start) -> Problem | None:
    if chain.expected is None:  # the first sealed line checked
        return _check_first(report, sealed, path, line, start)
    if sealed.seq > chain.expected:
        return Problem(path, line, DELETED,
                       f"{sealed.seq - chain.expected} line(s) missing before this one "
                       f"(seq {chain.expected} to {sealed.seq - 1})")
    if sealed.seq < chain.expected:
        return Problem(path, line, INSERTED,
                       f"a copy of the line with seq {sealed.seq}, which came earlier")
    if sealed.prev != chain.mac:
        return Problem(path, line, INSERTED, "the line does not chain to the line before it")
    return None


def _check_first(report: Report, sealed: Sealed, path: Path, line: int, start: Start
                 ) -> Problem | None:
    if start.seq is not None and sealed.seq != start.seq:
        return Problem(path, line, DELETED,
                       f"the chain was to start at seq {start.seq} (--from-seq) but starts at "
                       f"seq {sealed.seq}")
    if sealed.seq == 0:
        return None if sealed.prev == GENESIS else Problem(
            path, line, EDITED, "the first line of the chain does not start from nothing")
    if start.seq == sealed.seq:
        report.notes.append(f"the chain is checked from seq {sealed.seq}, as told (--from-seq): "
                            f"lines 0..{sealed.seq - 1} were not checked")
        return None
    if start.archived and line == 1 and sealed.event == ChainEvent.ROTATE:
        before = sealed.fields.get("previous_file")
        first = sealed.fields.get("previous_first_seq")
        held = f", the last of them {before}" if isinstance(before, str) else ""
        held += f" (seq {first}..{sealed.seq - 1})" if isinstance(first, int) and held else ""
        report.notes.append(
            f"the chain is checked from seq {sealed.seq} (rotate line at {path}:{line}), as "
            f"told (--allow-archived): lines 0..{sealed.seq - 1} were archived, not checked"
            f"{held}")
        return None
    return Problem(path, line, DELETED,
                   f"the chain starts at seq {sealed.seq}: lines 0..{sealed.seq - 1} are missing "
                   "(archived or deleted; if archived, say where it starts with --from-seq "
                   f"{sealed.seq}" + (" or --allow-archived)" if line == 1
                                      and sealed.event == ChainEvent.ROTATE else ")"))


def _check_start_line(sealed: Sealed, path: Path, line: int) -> Problem | None:
    """A restart that found the end of the previous run cut, or its head gone, says so."""
    if sealed.event != ChainEvent.START:
        return None
    lost, head_seq = sealed.fields.get("lost_lines"), sealed.fields.get("head_seq")
    if isinstance(lost, int) and isinstance(head_seq, int):
        end = f"at seq {head_seq - lost}" if head_seq >= lost else "with no sealed line"
        return Problem(path, line, TRUNCATED,
                       f"the restart here found the head at seq {head_seq} but the log ending "
                       f"{end}: {lost} line(s) were cut from the end before this restart")
    if lost is not None:
        return Problem(path, line, TRUNCATED, "the restart here found lines cut from the end")
    if sealed.fields.get("head") is not None:
        return Problem(path, line, TRUNCATED,
                       f"the restart here found the head file {sealed.fields['head']}: lines "
                       "cut from the end before this restart cannot be ruled out")
    return None


def _check_rotate_line(chain: _Chain, sealed: Sealed, path: Path, line: int
                       ) -> Problem | None:
    """A rotate line says where the file before it began: that file must begin there."""
    if sealed.event != ChainEvent.ROTATE or line != 1:
        return None
    claimed = sealed.fields.get("previous_first_seq")
    before = [seen for seen in chain.file_first if seen != path]
    if not isinstance(claimed, int) or not before:
        return None
    found = chain.file_first[before[-1]]
    if found == claimed:
        return None
    missing = f": lines {claimed}..{found - 1} are missing" if found > claimed else ""
    return Problem(before[-1], 1, DELETED,
                   f"the rotate line at {path}:{line} says this file began at seq {claimed}, "
                   f"but it begins at seq {found}{missing}")


def _check_end(report: Report, chain: _Chain, head: Head | str | None, files: list[Path],
               head_mac: str | None) -> None:
    path, line = chain.at or (files[-1], 0)
    last_seq = report.last_seq if report.last_seq is not None else -1
    if isinstance(head, Head):
        if head.seq > last_seq:
            report.problem = Problem(
                path, line + 1, TRUNCATED,
                f"the log ends at seq {last_seq} but the head file says seq {head.seq} "
                f"was written: {head.seq - last_seq} line(s) cut from the end")
            return
        if head_mac is not None and head_mac != head.mac:
            report.problem = Problem(path, line, EDITED,
                                     f"the line with seq {head.seq} is not the one the head file "
                                     "recorded")
            return
    elif head == HeadState.MISSING:
        report.problem = Problem(path, line + 1, HEAD,
                                 "no head file: lines cut from the end would not show")
        return
    elif head == HeadState.UNAUTHENTICATED:
        report.problem = Problem(path, line + 1, HEAD,
                                 "the head file is not sealed with the audit key (forged or "
                                 "damaged): lines cut from the end would not show")
        return
    elif head is None:
        report.notes.append("the head file was not compared (the live audit.log is not the last "
                            "file checked): lines cut from the end would not show")
    if chain.last is None:
        report.notes.append("no sealed line found")
        return
    if chain.last.event == ChainEvent.STOP:
        report.notes.append("the log ends with a clean stop")
    else:
        report.notes.append("the log does not end with a stop line: the process is running, "
                            "or did not stop cleanly")
