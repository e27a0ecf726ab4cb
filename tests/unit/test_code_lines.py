"""A private key written as lines of source code is read back as the key (code_lines.py)."""

from __future__ import annotations

import base64
import os

import pytest

from proxy.inspection.code_lines import key_lines
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.scanner import Scanner

ARMOUR = "-" * 5  # assembled, so that no key sits in this file for scanners to flag
LINES = [f"{ARMOUR}BEGIN PRIVATE KEY{ARMOUR}",
         *(base64.b64encode(os.urandom(48)).decode() for _ in range(12)),
         f"{ARMOUR}END PRIVATE KEY{ARMOUR}"]
PEM = "\n".join(LINES)

WRAPPED = {
    "java-concatenation": "static final String KEY = " + " +\n    ".join(
        f'"{line}\\n"' for line in LINES) + ";",
    "python-list": "KEY_LINES = [\n" + "".join(f'    "{line}",\n' for line in LINES) + "]",
    "python-tuple-single-quotes": "KEY = (\n" + "".join(f"    '{line}\\n'\n" for line in LINES)
                                  + ")",
    "shell-comments": "#!/bin/sh\n# deploy key:\n" + "".join(f"# {line}\n" for line in LINES),
    "c-string-array": "const char *key[] = {\n" + "".join(f'  "{line}",\n' for line in LINES)
                      + "};",
    "kotlin-trim-margin": '"""\n' + "".join(f"    |{line}\n" for line in LINES)
                          + '""".trimMargin()',
    "sql-comments": "".join(f"-- {line}\n" for line in LINES),
}


@pytest.mark.parametrize("code", WRAPPED.values(), ids=WRAPPED.keys())
def test_a_key_written_as_code_lines_is_rebuilt_and_found(code: str) -> None:
    rebuilt = key_lines(code)
    assert rebuilt is not None and PEM in rebuilt
    found = inspect_texts([Text("body", code)], Scanner(), b"k" * 32, max_depth=3).findings
    assert "private_key" in {finding.detector for finding in found}


@pytest.mark.parametrize("text", [
    pytest.param(PEM, id="a-plain-key-is-left-to-the-detector"),
    pytest.param("\n".join(f"  {line}  " for line in LINES), id="indented-only"),
    pytest.param('x = "a" +\n  "b",\n# c', id="code-without-a-key"),
])
def test_nothing_to_rebuild_gives_none(text: str) -> None:
    assert key_lines(text) is None


def test_base64_plus_and_slash_at_a_lines_end_are_kept() -> None:
    """`+` and `/` are base64: only a `+` after a space or a quote is concatenation."""
    code = f'"{LINES[0]}" +\n"AB+/CD+" +\n"{LINES[-1]}"'
    assert key_lines(code) == f"{LINES[0]}\nAB+/CD+\n{LINES[-1]}"
