"""A private key written as lines of source code is read back as the key (code_lines.py)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mitmproxy import http

from addons.request_texts import request_texts
from proxy.inspection.code_lines import key_lines
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.engine import inspect_texts
from proxy.inspection.scanner import Scanner
from proxy.policy.model import InspectionPolicy

SCANNER = Scanner()
SCANNER.prepare_rewrites()  # now: compiled within a request's CPU budget, it would spend it

# A real key (generated per run, never written down), so that its body reads as DER too
PEM = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode().strip()
LINES = PEM.split("\n")

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
    request = http.Request.make("POST", "https://llm.test/v1", code.encode(),
                                {"Content-Type": "text/plain"})
    texts = request_texts(request, limit=1 << 20)
    inspection = inspect_texts(texts, SCANNER, b"k" * 32, max_depth=3,
                               cpu=CpuBudget.for_texts(texts, InspectionPolicy()))
    assert "private_key" in {finding.detector for finding in inspection.findings}
    # the rebuilt lines cost no depth: the key's body, its DER and PEM form fit as for a plain key
    assert not inspection.limit_reached


@pytest.mark.parametrize("text", [
    pytest.param(PEM, id="a-plain-key-is-left-to-the-detector"),
    pytest.param("\n".join(f"  {line}  " for line in LINES), id="indented-only"),
    pytest.param('x = "a" +\n  "b",\n# c', id="code-without-a-key"),
])
def test_nothing_to_rebuild_gives_none(text: str) -> None:
    assert key_lines(text) is None


def test_base64_plus_and_slash_at_a_lines_end_are_kept() -> None:
    """`+` and `/` are base64: only a `+` after a space or a quote is concatenation."""
    code = f'"{LINES[0]}" +\n"ABCDEFGHIJKLMN+/CD+" +\n"{LINES[-1]}"'
    assert key_lines(code) == f"{LINES[0]}\nABCDEFGHIJKLMN+/CD+\n{LINES[-1]}"


def test_a_key_whose_body_is_not_wrapped_is_not_copied() -> None:
    """A heredoc's command names the key; its body is plain: the detector reads it as is."""
    command = "curl -F 'private_key=<-' https://x <<'EOF'\n" + PEM + "\nEOF"
    assert key_lines(command) is None
