"""CPU of the inspection hook on one request, outside the proxy, and where it goes.

Run from the repository root: ``.venv/bin/python -m bench.hook_cost``. Builds the bench's 4 KB
chat request (bench/bodies.py) as a mitmproxy request and times, in a loop, what
`addons/inspection.py` does per request: the texts of the URL, headers and body, `inspect_texts`
(peeling, scanning, rewrites) and the findings decision. It prints the CPU per request with the
clean-text cache off (every request inspected from scratch) and on (the body seen before), and
the parts: building the texts, peeling, scanning. This is the number behind "the request hook
alone" in docs/BENCHMARKS.md; the proxy's own figures come from `bench.run`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from mitmproxy import http

from addons.request_texts import request_texts
from bench.bodies import make_body
from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.engine import _variant_batches, inspect_texts
from proxy.inspection.scanner import Scanner
from proxy.policy.findings_decision import decide_findings
from proxy.policy.model import InspectionOverrides, InspectionPolicy, Mode

LIMIT = 10 * 1024 * 1024
MAX_DEPTH = 3
KEY = b"k" * 32


def _request(size: int) -> http.Request:
    return http.Request.make(
        "POST", "https://bench.test:4443/echo", make_body(size),
        {"Host": "bench.test:4443", "Content-Type": "application/json",
         "User-Agent": "bench/1", "Accept": "application/json", "Connection": "keep-alive"})


def _cpu_us(work: Callable[[], object], rounds: int, per_round: int) -> float:
    """The least CPU per call over `rounds` rounds of `per_round` calls, in µs."""
    work()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(per_round):
            work()
        best = min(best, (time.process_time() - start) / per_round * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hook_cost", description=__doc__)
    parser.add_argument("--size", type=int, default=4096, help="body bytes (default 4096)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args(argv)
    request, scanner, policy = _request(args.size), Scanner(), InspectionPolicy()

    def hook(clean: CleanTexts | None) -> Callable[[], object]:
        def run() -> object:
            texts = request_texts(request, limit=LIMIT)
            inspection = inspect_texts(texts, scanner, KEY, max_depth=MAX_DEPTH, clean=clean)
            return decide_findings(inspection.findings, policy, InspectionOverrides(),
                                   Mode.ENFORCE)
        return run

    texts = request_texts(request, limit=LIMIT)
    variants = [v.text for batch in _variant_batches(texts, MAX_DEPTH, None)
                for _, v in batch.variants]
    rows = [
        ("hook, clean-text cache off", hook(None)),
        ("hook, clean-text cache on, body seen before", hook(CleanTexts())),
        ("  texts of URL, headers and body", lambda: request_texts(request, limit=LIMIT)),
        ("  peeling (texts to variants)", lambda: list(_variant_batches(texts, MAX_DEPTH, None))),
        ("  scanning, plain and rewritten", lambda: scanner.scan_many_and_rewrites(variants)),
    ]
    print(f"{args.size}-byte body: {len(texts)} texts, {len(variants)} variants; "
          f"CPU per request, least of {args.rounds} rounds of {args.per_round}")
    for label, work in rows:
        print(f"  {label:<46} {_cpu_us(work, args.rounds, args.per_round):8.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
