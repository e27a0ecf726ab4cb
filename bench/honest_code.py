"""Honest traffic from real files: how many would the default rules block if an agent sent them?

Run from the repository root: ``.venv/bin/python -m bench.honest_code [DIR ...]``. Every text
file under the directories (by default the running Python's standard library and site-packages:
tens of thousands of files of code, documentation and data written by people, not by us) is
sent through the request hook's inspection as the content of an LLM chat request, judged by the
embedded default rules in enforce mode. With ``--binary``, every file that is not UTF-8 text
(shared libraries, images, fonts, archives, compiled bytecode) is sent instead as an upload,
the raw bytes as an `application/octet-stream` body. Prints how many files would be blocked,
the findings per detector, and the blocked files with their detectors: never a value, nor a
masked preview (the packages hold test keys of real formats). A request the hook would refuse
for its size, an undecodable body or the inspection limit counts as blocked too.

A blocked file is not always a false positive (private keys in test fixtures, customer-like
lists of emails, realistic example credentials in cloud documentation are meant to be stopped),
so this is a measure to read, not a target; docs/inspection.md reports its figures.
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from mitmproxy import http

from addons.request_texts import request_texts
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.engine import inspect_texts
from proxy.inspection.scanner import Scanner
from proxy.policy.findings_decision import decide_findings
from proxy.policy.loader import DEFAULT_RULES_PATH, load_rules
from proxy.policy.model import InspectionOverrides, Mode

SUFFIXES = frozenset({".py", ".md", ".txt", ".json", ".toml", ".cfg", ".rst", ".js", ".yaml",
                      ".yml", ".pem", ".html", ".xml", ".csv"})
MAX_FILE_BYTES = 400_000
LIMIT = 10 * 1024 * 1024
KEY = b"k" * 32


MAX_BINARY_BYTES = 2 * 1024 * 1024


def _paths(roots: list[Path], max_bytes: int) -> Iterator[Path]:
    """Every regular file under the roots (links left out), at most `max_bytes` long."""
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= max_bytes:
                yield path


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _binary(path: Path) -> bytes | None:
    """The file's bytes when they are not UTF-8 text."""
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    except OSError:
        return None
    return None


def text_files(roots: list[Path], max_files: int) -> Iterator[tuple[Path, str]]:
    found = ((path, text) for path in _paths(roots, MAX_FILE_BYTES)
             if path.suffix in SUFFIXES and (text := _text(path)) is not None)
    return islice(found, max_files)


def binary_files(roots: list[Path], max_files: int) -> Iterator[tuple[Path, bytes]]:
    found = ((path, data) for path in _paths(roots, MAX_BINARY_BYTES)
             if (data := _binary(path)) is not None)
    return islice(found, max_files)


def upload_request(data: bytes) -> http.Request:
    return http.Request.make("PUT", "https://uploads.example/files/blob", data,
                             {"Host": "uploads.example",
                              "Content-Type": "application/octet-stream"})


def chat_request(name: str, text: str) -> http.Request:
    body = json.dumps({"model": "m", "messages": [
        {"role": "user", "content": f"Here is {name}:\n{text}"}]}).encode()
    return http.Request.make("POST", "https://llm.example/v1/chat", body,
                             {"Host": "llm.example", "Content-Type": "application/json"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.honest_code", description=__doc__)
    parser.add_argument("roots", nargs="*", type=Path)
    parser.add_argument("--max-files", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    parser.add_argument("--binary", action="store_true",
                        help="send the files that are not UTF-8 text as uploads instead")
    args = parser.parse_args(argv)
    paths = sysconfig.get_paths()
    roots = args.roots or [Path(paths["stdlib"]), Path(paths["purelib"])]
    policy = load_rules(DEFAULT_RULES_PATH).inspection
    scanner = Scanner()
    scanner.prepare_rewrites()
    findings: Counter[str] = Counter()
    blocked: list[tuple[Path, list[str]]] = []
    files = 0
    started = time.monotonic()
    requests: Iterator[tuple[Path, http.Request]] = (
        ((path, upload_request(data)) for path, data in binary_files(roots, args.max_files))
        if args.binary else
        ((path, chat_request(path.name, text)) for path, text in text_files(roots, args.max_files)))
    for path, request in requests:
        if time.monotonic() - started > args.seconds:
            print(f"stopped after {args.seconds:.0f} s")
            break
        files += 1
        try:
            texts = request_texts(request, limit=LIMIT)
            # the hook's CPU budget too (addons/inspection.py)
            inspection = inspect_texts(texts, scanner, KEY, max_depth=3,
                                       cpu=CpuBudget.for_texts(texts, policy))
        except DecodeLimitExceeded:  # the hook answers body_too_large
            blocked.append((path, ["decode_limit"]))
            continue
        except UndecodableBody:  # the hook answers body_undecodable
            blocked.append((path, ["undecodable"]))
            continue
        if inspection.limit_reached:  # the hook answers inspection_limit
            blocked.append((path, ["inspection_limit"]))
            continue
        decision = decide_findings(inspection.findings, policy, InspectionOverrides(),
                                   Mode.ENFORCE)
        if decision.reason is not None:
            detectors = sorted({judged.finding.detector for judged in decision.reportable})
            findings.update(judged.finding.detector for judged in decision.reportable)
            blocked.append((path, detectors))
    share = len(blocked) / files if files else 0.0
    print(f"files {files}, blocked {len(blocked)} ({share:.2%}), "
          f"{time.monotonic() - started:.0f} s; roots: {', '.join(map(str, roots))}")
    print("findings in blocked files, per detector:", dict(findings.most_common()))
    for path, detectors in blocked:
        print(f"  {path}: {', '.join(detectors)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
