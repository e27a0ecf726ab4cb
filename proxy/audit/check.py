"""`glassbreak audit verify`: find the files and the key, check the chain, say what was found."""

from __future__ import annotations

from pathlib import Path

from proxy.audit.files import chain_files, read_head
from proxy.audit.log import HEAD_NAME, KEY_NAME
from proxy.audit.verify import verify
from proxy.keys import load_key

LIVE_NAME = "audit.log"


def chain_of(targets: list[Path]) -> list[Path]:
    """Files in chain order: a directory stands for its audit.log and the files rotated from it."""
    files: list[Path] = []
    for target in targets:
        files += chain_files(target / LIVE_NAME) if target.is_dir() else [target]
    return files


def verify_audit(targets: list[Path], key_file: Path | None = None) -> tuple[int, str]:
    """(exit code, text): 0 when the chain holds, 1 on the first problem, 2 when unable to check."""
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
    # The head describes the live file's end: compare it only when the live file is checked last.
    live = files[-1]
    head = read_head(live.parent / HEAD_NAME) if live.name == LIVE_NAME else None
    report = verify(files, key, head)
    notes = "".join(f"\n  note: {note}" for note in report.notes)
    if report.problem is not None:
        return 1, f"audit chain broken at {report.problem}{notes}"
    return 0, (f"audit chain intact: {report.lines} lines in {len(files)} file(s), "
               f"seq {report.first_seq} to {report.last_seq}{notes}")
