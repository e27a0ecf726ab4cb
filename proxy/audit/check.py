"""`glassbreak audit verify`: find the files and the key, check the chain, say what was found."""

from __future__ import annotations

from pathlib import Path

from proxy.audit.files import Head, HeadState, chain_files, read_head
from proxy.audit.log import HEAD_NAME, KEY_NAME
from proxy.audit.verify import Start, verify
from proxy.keys import load_key

LIVE_NAME = "audit.log"


def chain_of(targets: list[Path]) -> list[Path]:
    """Files in chain order: a directory stands for its audit.log and the files rotated from it."""
    files: list[Path] = []
    for target in targets:
        files += chain_files(target / LIVE_NAME) if target.is_dir() else [target]
    return files


def verify_audit(targets: list[Path], key_file: Path | None = None, *,
                 start: Start | None = None) -> tuple[int, str]:
    """(exit code, text): 0 when the chain holds, 1 on the first problem, 2 when unable to check."""
    gone = _missing_live_file(targets, key_file)
    if gone is not None:
        return 1, gone
    files = chain_of(targets)
    if not files:
        return 2, "glassbreak: no audit log files found in " + ", ".join(map(str, targets))
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        return 2, "glassbreak: not a file: " + ", ".join(missing)
    key_path = key_file or files[-1].parent / KEY_NAME
    try:
        key = load_key(key_path)
    except OSError as error:
        return 2, f"glassbreak: cannot read the audit key: {error}"
    report = verify(files, key, _head_for(targets, files, key), start=start)
    notes = "".join(f"\n  note: {note}" for note in report.notes)
    if report.problem is not None:
        return 1, f"audit chain broken at {report.problem}{notes}"
    return 0, (f"audit chain intact: {report.lines} lines in {len(files)} file(s), "
               f"seq {report.first_seq} to {report.last_seq}{notes}")


def _missing_live_file(targets: list[Path], key_file: Path | None) -> str | None:
    """A state directory whose key exists writes its audit.log at once: no audit.log is a loss."""
    for target in targets:
        if not target.is_dir() or (target / LIVE_NAME).exists():
            continue
        if (target / KEY_NAME).exists() or key_file is not None:
            rotated = len(chain_files(target / LIVE_NAME))
            return (f"audit chain broken at {target / LIVE_NAME}: no audit log: the state "
                    f"directory has its audit key but no {LIVE_NAME} ({rotated} rotated file(s) "
                    "left): the live log was deleted")
    return None


def _head_for(targets: list[Path], files: list[Path], key: bytes) -> Head | str | None:
    """The head to compare with the end, when the live file is checked last.

    For a state directory it is required: a missing or forged head fails the check. For files
    named one by one, a missing head is only not compared (a copy may have been taken without it).
    """
    live = files[-1]
    if live.name != LIVE_NAME:
        return None
    head = read_head(live.parent / HEAD_NAME, key)
    if head == HeadState.MISSING and not targets[-1].is_dir():
        return None
    return head
