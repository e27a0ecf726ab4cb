"""The audit log's HMAC chain: every kind of tampering is named at the right line; rotation and
restarts keep the chain; a crash's partial line is told apart from an edit."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from proxy.audit.chain import GENESIS, BrokenLine, open_line, seal
from proxy.audit.check import verify_audit
from proxy.audit.files import Head, chain_files, read_head
from proxy.audit.log import AuditLog
from proxy.audit.record import AuditRecord
from proxy.audit.verify import Start
from proxy.cli import main

KEY = b"k" * 32


def record(index: int) -> AuditRecord:
    return AuditRecord(request_id=f"req-{index:04d}", kind="http", stage="request",
                       client="127.0.0.1:1", host="allowed.test", port=443, decision="allow",
                       reason="allowed", rule="r", path=f"/item/{index}", started=1.0)


def write_log(directory: Path, count: int, *, max_bytes: int = 10**8, close: bool = True
              ) -> AuditLog:
    log = AuditLog(directory / "audit.log", key=KEY, max_bytes=max_bytes)
    for index in range(count):
        log.write(record(index))
    if close:
        log.close()
    return log


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def check(directory: Path) -> tuple[int, str]:
    (directory / "audit.key").write_bytes(KEY)
    return verify_audit([directory])


def test_seal_and_open_round_trip() -> None:
    line, mac = seal('{"a":1}', 7, GENESIS, KEY)
    opened = open_line(line, KEY)
    assert (opened.seq, opened.prev, opened.mac) == (7, GENESIS, mac)
    assert json.loads(line)["hmac"] == mac
    with pytest.raises(BrokenLine):
        open_line(line, b"x" * 32)  # another key


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    write_log(tmp_path, 20)
    code, text = check(tmp_path)
    assert code == 0, text
    assert "22 lines" in text and "clean stop" in text  # start + 20 + stop


def test_every_line_carries_seq_prev_and_hmac_in_order(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    parsed = [json.loads(line) for line in lines_of(tmp_path / "audit.log")]
    assert [line["seq"] for line in parsed] == [0, 1, 2, 3, 4]
    assert parsed[0]["prev"] == GENESIS and parsed[0]["event"] == "start"
    assert all(after["prev"] == before["hmac"] for before, after in itertools.pairwise(parsed))
    assert parsed[-1]["event"] == "stop"
    assert [list(line)[-3:] for line in parsed] == [["seq", "prev", "hmac"]] * 5


Tamper = Callable[[list[str]], list[str]]


def _edit(lines: list[str]) -> list[str]:
    lines[5] = lines[5].replace('"decision":"allow"', '"decision":"block"')
    return lines


def _edit_hmac(lines: list[str]) -> list[str]:
    lines[5] = lines[5][:-4] + ("0" if lines[5][-4] != "0" else "1") + lines[5][-3:]
    return lines


def _insert_garbage(lines: list[str]) -> list[str]:
    return [*lines[:5], '{"kind":"http","decision":"allow"}\n', *lines[5:]]


def _insert_copy(lines: list[str]) -> list[str]:
    return [*lines[:7], lines[3], *lines[7:]]


def _delete(lines: list[str]) -> list[str]:
    return [*lines[:5], *lines[6:]]


def _delete_several(lines: list[str]) -> list[str]:
    return [*lines[:5], *lines[9:]]


def _delete_first(lines: list[str]) -> list[str]:
    return lines[1:]


def _swap(lines: list[str]) -> list[str]:
    lines[5], lines[6] = lines[6], lines[5]
    return lines


def _truncate_last_line(lines: list[str]) -> list[str]:
    return [*lines[:-1], lines[-1][:40]]


def _delete_last_lines(lines: list[str]) -> list[str]:
    return lines[:-3]


@pytest.mark.parametrize(("tamper", "line", "kind"), [
    (_edit, 6, "edited"),
    (_edit_hmac, 6, "edited"),
    (_insert_garbage, 6, "inserted"),
    (_insert_copy, 8, "inserted"),
    (_delete, 6, "deleted"),
    (_delete_several, 6, "deleted"),
    (_delete_first, 1, "deleted"),
    (_swap, 6, "deleted"),
    (_truncate_last_line, 14, "truncated"),
    (_delete_last_lines, 12, "truncated"),  # only the head file can tell
], ids=lambda value: getattr(value, "__name__", str(value)).strip("_"))
def test_tampering_is_named_at_its_line(tmp_path: Path, tamper: Tamper, line: int,
                                        kind: str) -> None:
    write_log(tmp_path, 12)  # 14 lines: start, 12 records, stop
    live = tmp_path / "audit.log"
    live.write_text("".join(tamper(lines_of(live))), encoding="utf-8")
    code, text = check(tmp_path)
    assert code == 1, text
    assert f"audit.log:{line}: {kind}:" in text, text


def test_deleting_the_last_lines_and_the_head_is_not_invisible(tmp_path: Path) -> None:
    """Why the head file exists, and must be there: with it gone, a cut end would not show."""
    write_log(tmp_path, 12)
    live = tmp_path / "audit.log"
    live.write_text("".join(lines_of(live)[:-3]), encoding="utf-8")
    (tmp_path / "audit.head").unlink()
    code, text = check(tmp_path)
    assert code == 1, text
    assert "audit.log:12: head: no head file" in text, text


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    files = chain_files(tmp_path / "audit.log")
    assert len(files) >= 4
    assert [path.name for path in files[:2]] == ["audit.log.1", "audit.log.2"]
    assert all(path.stat().st_size < 8192 + 1024 for path in files)
    first_of_second = json.loads(lines_of(files[1])[0])
    assert first_of_second["event"] == "rotate"
    assert first_of_second["previous_file"] == "audit.log.1"
    assert first_of_second["prev"] == json.loads(lines_of(files[0])[-1])["hmac"]
    code, text = check(tmp_path)
    assert code == 0, text
    requests = [json.loads(line)["request_id"] for path in files for line in lines_of(path)
                if "request_id" in line]
    assert requests == [f"req-{index:04d}" for index in range(300)]


def test_a_missing_middle_file_or_a_moved_line_across_files_is_found(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    files = chain_files(tmp_path / "audit.log")
    middle = files[1]
    saved = middle.read_bytes()
    middle.unlink()
    (tmp_path / "audit.key").write_bytes(KEY)
    code, text = verify_audit([*files[:1], *files[2:]])
    assert code == 1 and f"{files[2]}:1: deleted:" in text, text
    middle.write_bytes(saved)
    edited = lines_of(files[0])
    edited[3] = edited[3].replace("/item/", "/xtem/")
    files[0].write_text("".join(edited), encoding="utf-8")
    code, text = check(tmp_path)
    assert code == 1 and "audit.log.1:4: edited:" in text, text


def test_archived_old_files_fail_unless_the_operator_says_so(tmp_path: Path) -> None:
    write_log(tmp_path, 300, max_bytes=8192)
    (tmp_path / "audit.log.1").unlink()
    code, text = check(tmp_path)
    assert code == 1 and "audit.log.2:1: deleted: the chain starts at seq" in text, text
    code, text = verify_audit([tmp_path], start=Start(archived=True))
    assert code == 0, text
    assert "were archived, not checked" in text


def test_a_restart_continues_the_chain(tmp_path: Path) -> None:
    write_log(tmp_path, 5)
    write_log(tmp_path, 5)
    parsed = [json.loads(line) for line in lines_of(tmp_path / "audit.log")]
    assert [line["seq"] for line in parsed] == list(range(14))
    assert [line.get("event") for line in parsed if line["kind"] == "chain"] == [
        "start", "stop", "start", "stop"]
    assert check(tmp_path)[0] == 0


def test_a_crash_partial_line_is_recorded_by_the_restart(tmp_path: Path) -> None:
    write_log(tmp_path, 5, close=False)
    live = tmp_path / "audit.log"
    with live.open("a", encoding="utf-8") as handle:
        handle.write('{"time":1,"request_id":"cut')  # what a crash mid-write leaves
    code, text = check(tmp_path)
    assert code == 1 and "audit.log:7: truncated:" in text, text
    write_log(tmp_path, 2)
    code, text = check(tmp_path)
    assert code == 0, text
    assert "audit.log:7: 1 line(s) left unfinished" in text
    restart = json.loads(lines_of(live)[7])
    assert restart["event"] == "start" and restart["discarded_lines"] == 1


def test_an_edit_is_not_excused_by_a_later_restart(tmp_path: Path) -> None:
    write_log(tmp_path, 5)
    live = tmp_path / "audit.log"
    lines = lines_of(live)
    lines[-1] = lines[-1].replace('"stop"', '"stap"')  # the last whole line, edited
    live.write_text("".join(lines), encoding="utf-8")
    write_log(tmp_path, 1)  # the restart chains to the last sealed line, excusing nothing
    restart = json.loads(lines_of(live)[7])
    assert restart["event"] == "start" and "discarded_lines" not in restart
    code, text = check(tmp_path)
    assert code == 1 and "audit.log:7: edited:" in text, text


def test_a_log_sealed_with_another_key_is_kept_apart(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text('{"request_id":"old","decision":"allow"}\n', encoding="utf-8")
    write_log(tmp_path, 2)
    assert (tmp_path / "audit.log.1").read_text().startswith('{"request_id":"old"')
    first = json.loads(lines_of(live)[0])
    assert first["unverified_file"] == "audit.log.1" and first["seq"] == 0
    (tmp_path / "audit.key").write_bytes(KEY)
    code, text = verify_audit([live])
    assert code == 0, text


def test_head_tracks_the_last_line(tmp_path: Path) -> None:
    write_log(tmp_path, 4)
    head = read_head(tmp_path / "audit.head", KEY)
    last = json.loads(lines_of(tmp_path / "audit.log")[-1])
    assert isinstance(head, Head) and (head.seq, head.mac) == (last["seq"], last["hmac"])


def test_files_are_private(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.close()
    for name in ("audit.log", "audit.key", "audit.head"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name


def test_cli_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_log(tmp_path, 3)
    (tmp_path / "audit.key").write_bytes(KEY)
    assert main(["audit", "verify", "--state-dir", str(tmp_path)]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    live = tmp_path / "audit.log"
    lines = lines_of(live)
    live.write_text("".join([*lines[:2], *lines[3:]]), encoding="utf-8")
    assert main(["audit", "verify", str(live)]) == 1
    assert "deleted" in capsys.readouterr().err
    assert main(["audit", "verify", str(tmp_path / "nothing-here")]) == 2
    os.remove(tmp_path / "audit.key")
    assert main(["audit", "verify", str(live)]) == 2
