"""Scanner throughput on clean bodies, side by side with detect-secrets' `scan_line`.

Run from the repository root: ``.venv/bin/python -m bench.scanner_throughput`` (``--quick`` for
fewer repetitions). Builds 1 MB of realistic clean JSON and text deterministically, prints MB/s,
the ratio to detect-secrets, and time per MB at 4 KB, 64 KB, 1 MB and 8 MB bodies.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import time
import uuid
from collections import Counter
from collections.abc import Callable

from proxy.inspection.scanner import Scanner

MB = 1_000_000
TARGET_MB_S = 100.0
TARGET_RATIO = 100.0
DS_SAMPLE_BYTES = 64_000  # detect-secrets runs ~0.3 MB/s: time it on a sample and extrapolate

_VOCABULARY = (
    "the agent should update build config before release because tests fail when cache is stale "
    "please review this function and explain why the request times out under load we can retry "
    "with backoff or split the batch into smaller parts then merge results into one report for "
    "users who asked about deployment logs metrics dashboards alerts queues workers database "
    "migration schema index query latency memory leak profile trace span version "
    "café naïve größe 日本語 テスト 🙂"  # chat is not all ASCII: exercises the offset mapping
)
_WORDS = tuple(_VOCABULARY.split())
_B64 = string.ascii_letters + string.digits + "+/"
_PACKAGES = (
    "react", "lodash", "express", "typescript", "webpack", "babel-core", "jest", "eslint", "axios",
    "@types/node", "@babel/preset-env", "vite", "rollup", "prettier", "chalk", "commander", "zod",
)
_CODE = (
    "def {n}(self, request):\n    token = self.session.get_token()\n"
    "    return self.client.post(url, headers={{'Authorization': f'Bearer {{token}}'}})\n",
    "const {n} = async (req, res) => {{\n  const accessToken = await getAccessToken(req.user);\n"
    "  res.json({{ ok: true, count: items.length }});\n}};\n",
    "password = os.environ[\"DB_PASSWORD\"]\nsecret_key = settings.SECRET_KEY\n"
    "for i in range(len(rows)):\n    total += rows[i].amount * 1.08\n",
    "if (user.isAuthenticated && config.apiKey !== undefined) {{ retry({n}, 3, 250); }}\n",
)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _package_json(rng: random.Random) -> str:
    deps = {rng.choice(_PACKAGES): f"^{rng.randint(0, 18)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            for _ in range(12)}
    lock = {
        f"node_modules/{name}": {
            "version": version.lstrip("^"),
            "resolved": f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-1.0.0.tgz",
            "integrity": "sha512-" + "".join(rng.choices(_B64, k=86)) + "==",
        }
        for name, version in deps.items()
    }
    return json.dumps({
        "name": f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}", "version": "1.4.2",
        "description": _sentence(rng, 10), "license": "MIT", "main": "dist/index.js",
        "scripts": {"build": "tsc -p .", "test": "jest --coverage", "lint": "eslint src"},
        "repository": {"type": "git", "url": "git+https://github.com/acme/widgets.git"},
        "author": "Jane Doe <jane.doe@example.org>", "gitHead": f"{rng.getrandbits(160):040x}",
        "dependencies": deps, "packages": lock,
    }, indent=2)


def _chat(rng: random.Random) -> str:
    messages: list[dict[str, object]] = [
        {"role": rng.choice(("user", "assistant")), "content": _sentence(rng, 40)}
        for _ in range(6)
    ]
    if rng.random() < 0.2:  # a screenshot: base64 PNG data must not look like a secret
        png = "iVBORw0KGgoAAAANSUhEUgAA" + "".join(rng.choices(_B64, k=2000))
        messages.append({"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
        ]})
    return json.dumps({
        "model": "claude-sonnet-4", "max_tokens": 1024, "messages": messages,
        "metadata": {"user_id": str(uuid.UUID(int=rng.getrandbits(128))),
                     "created": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:3"
                                f"{rng.randint(0, 9)}:00Z",
                     "sha256": f"{rng.getrandbits(256):064x}",
                     "timestamp_ms": 1_700_000_000_000 + rng.randint(0, 10**9)},
    }, ensure_ascii=False)


def _code(rng: random.Random) -> str:
    return "".join(rng.choice(_CODE).format(n=f"handle_{rng.choice(_WORDS)}") for _ in range(8))


def build_corpus(size: int, seed: int = 7) -> str:
    """`size` characters of clean package.json/lockfile, chat JSON and code; deterministic."""
    rng = random.Random(seed)
    makers: tuple[Callable[[random.Random], str], ...] = (_package_json, _chat, _code)
    parts: list[str] = []
    total = 0
    while total < size:
        part = rng.choice(makers)(rng)
        parts.append(part)
        total += len(part) + 1
    return "\n".join(parts)[:size]


def _median_seconds(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _detect_secrets_seconds_per_byte(text: str) -> float:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    sample = text[:DS_SAMPLE_BYTES]
    lines = sample.splitlines()
    with default_settings():
        started = time.perf_counter()
        for line in lines:
            list(scan_line(line))
        elapsed = time.perf_counter() - started
    return elapsed / len(sample.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    runs = 3 if args.quick else 9

    started = time.perf_counter()
    scanner = Scanner()
    print(f"engine={scanner.engine}  compile={time.perf_counter() - started:.2f}s")

    corpus = build_corpus(MB)
    found = Counter(m.detector for m in scanner.scan(corpus))
    print(f"1 MB clean corpus: {len(corpus.encode()) / MB:.2f} MB, matches: {dict(found) or 0}")

    seconds = _median_seconds(lambda: scanner.scan(corpus), runs)
    mb_s = len(corpus.encode()) / MB / seconds
    ds_mb_s = 1 / _detect_secrets_seconds_per_byte(corpus) / MB
    print(f"Scanner.scan      {mb_s:8.1f} MB/s  (median of {runs}, {seconds * 1000:.2f} ms/MB)"
          f"  target >= {TARGET_MB_S:.0f}  {'OK' if mb_s >= TARGET_MB_S else 'BELOW'}")
    print(f"detect-secrets    {ds_mb_s:8.3f} MB/s  (scan_line per line, default plugins, "
          f"{DS_SAMPLE_BYTES // 1000} KB sample)")
    ratio = mb_s / ds_mb_s
    print(f"ratio             {ratio:8.0f} x     target >= {TARGET_RATIO:.0f}  "
          f"{'OK' if ratio >= TARGET_RATIO else 'BELOW'}")

    print("body size   ms per MB   (flat is the goal)")
    big = build_corpus(8 * MB, seed=11)
    for size in (4_000, 64_000, MB, 8 * MB):
        body = big[:size]
        repeat = max(1, MB // size)  # scan enough 4 KB bodies to measure a megabyte's worth

        def scan_many(body: str = body, repeat: int = repeat) -> None:
            for _ in range(repeat):
                scanner.scan(body)

        per_mb = _median_seconds(scan_many, runs) / (repeat * len(body.encode()) / MB)
        print(f"{size // 1000:>6} KB   {per_mb * 1000:9.2f}")


if __name__ == "__main__":
    main()
