"""The start and the end of the audit history cannot be cut without `audit verify` failing:
deleting the oldest lines or files (red-team F4), cutting the end and forging or deleting the head,
deleting the live log, or laundering a cut through a restart (F5). A clean restart and a crash's
single partial line still verify."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from proxy.audit.check import verify_audit
from proxy.audit.files import Head, HeadState, chain_files, head_bytes, read_head
from proxy.audit.log import AuditLog
from proxy.audit.verify import Start
from proxy.cli import main
from tests.unit.test_audit_chain import KEY, check, lines_of, record, write_log


def _live(directory: Path) -> Path:
    return directory / "audit.log"


def _restart(directory: Path, records: int = 1) -> None:
    write_log(directory, records)


# --- F4: the start of the history ---------------------------------------------------------------

def test_deleting_every_line_before_a_restart_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 5)
    write_log(tmp_path, 5)  # seq 0-6 first run, 7-13 second
    lines = lines_of(_live(tmp_path))
    second_start = [index for index, line in enumerate(lines) if '"event":"start"' in line][1]
    _live(tmp_path).write_text("".join(lines[second_start:]), encoding="utf-8")
    code, text = check(tmp_path)
    assert code == 1, text
    assert "audit.log:1: deleted: the chain starts at seq 7: lines 0..6 are missing" in text
    # Files were not archived here (a start line opens no rotated file): --allow-archived does not
    # excuse it; only an operator who names the start takes it, and the output says so.
    assert verify_audit([tmp_path], start=Start(archived=True))[0] == 1
    code, text = verify_audit([tmp_path], start=Start(seq=7))
    assert code == 0 and "checked from seq 7, as told (--from-seq)" in text, text


def test_deleting_the_oldest_rotated_files_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    files = chain_files(_live(tmp_path))
    third_first = json.loads(lines_of(files[2])[0])
    for old in files[:2]:
        old.unlink()
    code, text = check(tmp_path)
    assert code == 1, text
    assert (f"audit.log.3:1: deleted: the chain starts at seq {third_first['seq']}: "
            f"lines 0..{third_first['seq'] - 1} are missing (archived or deleted") in text, text


def test_archived_files_pass_only_when_the_operator_says_so(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.log.1").unlink()
    first = json.loads(lines_of(tmp_path / "audit.log.2")[0])
    assert first["event"] == "rotate"
    (tmp_path / "audit.key").write_bytes(KEY)
    code, text = verify_audit([tmp_path], start=Start(archived=True))
    assert code == 0, text
    assert f"lines 0..{first['seq'] - 1} were archived, not checked" in text
    code, text = verify_audit([tmp_path], start=Start(seq=first["seq"]))
    assert code == 0 and "as told (--from-seq)" in text, text
    code, text = verify_audit([tmp_path], start=Start(seq=first["seq"] - 1))
    assert code == 1 and "was to start at seq" in text, text
    code, text = verify_audit([tmp_path], start=Start(seq=first["seq"] + 1))
    assert code == 1, text


def test_archived_start_is_not_an_excuse_for_a_cut_file(tmp_path: Path) -> None:
    """--allow-archived takes whole files: cutting the first lines of the oldest file kept fails."""
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.log.1").unlink()
    oldest = tmp_path / "audit.log.2"
    oldest.write_text("".join(lines_of(oldest)[3:]), encoding="utf-8")
    (tmp_path / "audit.key").write_bytes(KEY)
    code, text = verify_audit([tmp_path], start=Start(archived=True))
    assert code == 1 and "audit.log.2:1: deleted: the chain starts at seq" in text, text


def test_a_rotate_line_records_the_file_before_it(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    files = chain_files(_live(tmp_path))
    for before, after in itertools.pairwise(files):
        rotate = json.loads(lines_of(after)[0])
        old = [json.loads(line)["seq"] for line in lines_of(before)]
        assert rotate["event"] == "rotate" and rotate["previous_file"] == before.name
        assert (rotate["previous_first_seq"], rotate["previous_last_seq"]) == (old[0], old[-1])


def test_a_restarted_file_is_recorded_from_its_first_line(tmp_path: Path) -> None:
    write_log(tmp_path, 5)  # seq 0-6 in audit.log, then a restart that rotates it
    write_log(tmp_path, 300, max_bytes=8192)
    rotate = json.loads(lines_of(tmp_path / "audit.log.2")[0])
    assert rotate["previous_file"] == "audit.log.1" and rotate["previous_first_seq"] == 0


def test_cutting_the_start_of_the_oldest_file_kept_shows_with_from_seq(tmp_path: Path) -> None:
    """Whoever names the start where the cut left it is still told the file lost its beginning."""
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.log.1").unlink()
    oldest = tmp_path / "audit.log.2"
    kept = lines_of(oldest)[3:]
    oldest.write_text("".join(kept), encoding="utf-8")
    (tmp_path / "audit.key").write_bytes(KEY)
    code, text = verify_audit([tmp_path], start=Start(seq=json.loads(kept[0])["seq"]))
    assert code == 1 and "audit.log.2:1: deleted: the rotate line at" in text, text
    assert "lines 0..17" not in text


def test_given_files_must_start_at_the_genesis_too(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.key").write_bytes(KEY)
    files = chain_files(_live(tmp_path))
    assert verify_audit(files)[0] == 0
    code, text = verify_audit(files[1:])
    assert code == 1 and "audit.log.2:1: deleted: the chain starts at seq" in text, text
    assert verify_audit(files[1:], start=Start(archived=True))[0] == 0


def test_cli_from_seq_and_allow_archived(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.log.1").unlink()
    (tmp_path / "audit.key").write_bytes(KEY)
    seq = json.loads(lines_of(tmp_path / "audit.log.2")[0])["seq"]
    state = ["--state-dir", str(tmp_path)]
    assert main(["audit", "verify", *state]) == 1
    assert f"lines 0..{seq - 1} are missing" in capsys.readouterr().err
    assert main(["audit", "verify", *state, "--allow-archived"]) == 0
    assert "--allow-archived" in capsys.readouterr().out
    assert main(["audit", "verify", *state, "--from-seq", str(seq)]) == 0
    assert f"checked from seq {seq}" in capsys.readouterr().out
    assert main(["audit", "verify", *state, "--from-seq", "0"]) == 1


# --- F5: the end of the history ------------------------------------------------------------------

def test_the_head_is_sealed_with_the_key(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    head = read_head(tmp_path / "audit.head", KEY)
    assert isinstance(head, Head)
    assert read_head(tmp_path / "audit.head", b"x" * 32) == HeadState.UNAUTHENTICATED
    assert read_head(tmp_path / "nothing", KEY) == HeadState.MISSING
    # The head's MAC is not a line MAC: the line's own hmac does not seal a head.
    text = (tmp_path / "audit.head").read_text(encoding="ascii").split()
    assert text[2] != head.mac


def _cut_tail(directory: Path, count: int) -> dict[str, object]:
    lines = lines_of(_live(directory))[:-count]
    _live(directory).write_text("".join(lines), encoding="utf-8")
    last: dict[str, object] = json.loads(lines[-1])
    return last


@pytest.mark.parametrize("forge", ["old format", "another key", "garbage", "emptied"])
def test_cutting_the_end_and_forging_the_head_fails(tmp_path: Path, forge: str) -> None:
    write_log(tmp_path, 12)
    last = _cut_tail(tmp_path, 4)
    seq, mac = last["seq"], last["hmac"]
    assert isinstance(seq, int) and isinstance(mac, str)
    forged = {"old format": f"{seq:020d} {mac}\n".encode(),
              "another key": head_bytes(seq, mac, b"x" * 32),
              "garbage": b"not a head\n",
              "emptied": b""}[forge]
    (tmp_path / "audit.head").write_bytes(forged)
    code, text = check(tmp_path)
    assert code == 1, text
    assert "audit.log:11: head:" in text, text


def test_cutting_the_end_and_deleting_the_head_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 12)
    _cut_tail(tmp_path, 4)
    (tmp_path / "audit.head").unlink()
    code, text = check(tmp_path)
    assert code == 1 and "audit.log:11: head: no head file" in text, text


def test_an_old_head_left_after_a_cut_shows_the_cut(tmp_path: Path) -> None:
    write_log(tmp_path, 12)
    _cut_tail(tmp_path, 4)
    code, text = check(tmp_path)
    assert code == 1 and "truncated: the log ends at seq 9 but the head file says seq 13" in text


def test_deleting_the_live_log_and_the_head_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    _live(tmp_path).unlink()
    (tmp_path / "audit.head").unlink()
    code, text = check(tmp_path)
    assert code == 1, text
    assert "no audit log" in text and "rotated file(s) left" in text


def test_deleting_the_only_log_and_the_head_fails(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    _live(tmp_path).unlink()
    (tmp_path / "audit.head").unlink()
    code, text = check(tmp_path)
    assert code == 1 and "no audit log" in text, text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert verify_audit([empty])[0] == 2  # nothing was ever written there: nothing to check


def test_emptying_the_log_shows_against_the_head(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    _live(tmp_path).write_bytes(b"")
    code, text = check(tmp_path)
    assert code == 1 and "truncated" in text and "says seq 4" in text, text


@pytest.mark.parametrize("partial", [True, False], ids=["partial-last-line", "whole-lines"])
def test_a_restart_does_not_launder_a_cut(tmp_path: Path, partial: bool) -> None:
    """Red-team t5b: lines cut while nothing runs, then an ordinary restart."""
    write_log(tmp_path, 12)  # seq 0-13, the head at 13
    lines = lines_of(_live(tmp_path))
    kept = "".join(lines[:8]) + (lines[8].rstrip("\n")[:40] if partial else "")
    _live(tmp_path).write_text(kept, encoding="utf-8")  # the last whole line is seq 7
    _restart(tmp_path)
    restart = json.loads(lines_of(_live(tmp_path))[9 if partial else 8])
    assert restart["event"] == "start"
    assert (restart["head_seq"], restart["lost_lines"]) == (13, 6)
    code, text = check(tmp_path)
    assert code == 1, text
    line = 10 if partial else 9
    assert f"audit.log:{line}: truncated: the restart here found the head at seq 13" in text


def test_a_restart_after_the_head_was_deleted_says_so(tmp_path: Path) -> None:
    write_log(tmp_path, 12)
    _cut_tail(tmp_path, 4)
    (tmp_path / "audit.head").unlink()
    _restart(tmp_path)
    restart = json.loads(lines_of(_live(tmp_path))[10])
    assert restart["event"] == "start" and restart["head"] == "missing"
    code, text = check(tmp_path)
    assert code == 1 and "audit.log:11: truncated: the restart here found the head file " \
        "missing" in text, text


def test_a_restart_after_all_logs_were_deleted_but_the_head_says_so(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    for path in chain_files(_live(tmp_path)):
        path.unlink()
    _restart(tmp_path)
    first = json.loads(lines_of(_live(tmp_path))[0])
    assert first["seq"] == 0 and first["lost_lines"] == first["head_seq"] + 1
    code, text = check(tmp_path)
    assert code == 1 and "audit.log:1: truncated" in text, text


def test_a_clean_restart_and_a_crash_still_verify(tmp_path: Path) -> None:
    write_log(tmp_path, 5)
    _restart(tmp_path, 3)
    code, text = check(tmp_path)
    assert code == 0 and "clean stop" in text, text
    # A crash: the process dies mid-line (the head names the last whole line), then restarts.
    log = AuditLog(_live(tmp_path), key=KEY)
    log.write(record(1))
    with _live(tmp_path).open("a", encoding="utf-8") as handle:
        handle.write('{"time":1,"request_id":"cut')
    _restart(tmp_path)
    restart = [json.loads(line) for line in lines_of(_live(tmp_path)) if '"start"' in line][-1]
    assert restart["discarded_lines"] == 1 and "lost_lines" not in restart and "head" not in restart
    code, text = check(tmp_path)
    assert code == 0, text
    assert "left unfinished by a process that did not stop cleanly" in text


def test_a_running_log_verifies(tmp_path: Path) -> None:
    """No stop line yet, the head at the last line: the live state directory checks out."""
    log = write_log(tmp_path, 4, close=False)
    code, text = check(tmp_path)
    assert code == 0 and "does not end with a stop line" in text, text
    log.close()
