"""Generate the labelled accuracy corpus deterministically: `python -m tests.corpus.generate`.

Positives are fake, format-valid secrets and PII (throwaway keys included) in realistic carrier
text, each plain and in every single-layer encoding; negatives are near misses. The output,
tests/corpus/corpus.jsonl, is checked against a fresh run by tests/unit/test_corpus_fresh.py:
change the generator and rerun it, never edit the file by hand.

Labelling notes: the published example JWTs (RFC 7519, jwt.io) are positives, since nothing in a
token marks it as an example and the jwt detector reports them; AWS's documented EXAMPLE keys are
negatives. A single commit-author email is a negative: the evaluation counts an email hit only
from two distinct addresses (evaluate.MIN_COUNT). Output is byte-stable for one Python, zlib and
cryptography: gzip+base64 entries would change with a different zlib.
"""

from __future__ import annotations

import argparse
import base64
import codecs
import gzip
import json
import random
import sys
import textwrap
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.evaluate import CorpusEntry as Entry  # one record for writer and reader
from proxy.inspection.findings import Kind
from tests.corpus import negatives, positives

SEED = 20240521
CORPUS_PATH = Path(__file__).with_name("corpus.jsonl")
NEGATIVE_ENCODED_EVERY = 8  # one negative in eight also appears in one encoding


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64_lines(data: bytes, width: int = 76) -> str:
    """Base64 wrapped as MIME writes it: lines of `width` characters."""
    encoded = _b64(data)
    return "\n".join(encoded[i:i + width] for i in range(0, len(encoded), width))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "base64": lambda text: _b64(text.encode()),
    "base64url": lambda text: base64.urlsafe_b64encode(text.encode()).decode(),
    "percent": lambda text: urllib.parse.quote(text, safe=""),
    "hex": lambda text: text.encode().hex(),
    "base32": lambda text: base64.b32encode(text.encode()).decode(),
    "gzip+base64": lambda text: _b64(gzip.compress(text.encode(), compresslevel=9, mtime=0)),
    "hex_escapes": lambda text: "".join(f"\\x{byte:02x}" for byte in text.encode()),
    "unicode_escapes": lambda text: "".join(f"\\u{ord(char):04x}" for char in text),
    "html_references": lambda text: "".join(f"&#{ord(char)};" for char in text),
    "base64_lines": lambda text: _b64_lines(text.encode()),
    "hex_colons": lambda text: ":".join(f"{byte:02x}" for byte in text.encode()),
    "hex_0x_commas": lambda text: ",".join(f"0x{byte:02x}" for byte in text.encode()),
    "decimal_bytes": lambda text: ", ".join(str(byte) for byte in text.encode()),
}


# Whole-text rewrites that Glassbreak undoes for secret detectors only (proxy/inspection/
# transforms.py): positives of secret families get them too. Not in ENCODINGS, whose order
# picks the encodings of negatives; every negative's rewrites are scanned by the evaluation.
SECRET_REWRITES: dict[str, Callable[[str], str]] = {
    "reversed": lambda text: text[::-1],
    "rot13": lambda text: codecs.encode(text, "rot13"),
    "swapcase": lambda text: text.swapcase(),
}


def _selectors(data: bytes) -> str:
    """Bytes as variation selectors: U+FE00-FE0F for 0-15, U+E0100-E01EF for 16-255."""
    return "".join(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in data)


# Invisible carriers an agent's model reads ("ASCII smuggling"): positives only, so that the
# encodings of negatives (picked in ENCODINGS' order) stay as they were.
HIDDEN: dict[str, Callable[[str], str]] = {
    "unicode_tags": lambda text: "See the notes. " + "".join(
        chr(0xE0000 + ord(c)) if 0x20 <= ord(c) <= 0x7E else c for c in text),
    "variation_selectors": lambda text: "Thanks \U0001F642" + _selectors(text.encode()),
}


def zero_width_bits(data: bytes) -> str:
    """Bytes as bits in zero-width characters: U+200B for 0, U+200C for 1, eight a byte."""
    bits = "".join(f"{byte:08b}" for byte in data)
    return bits.replace("0", "\u200b").replace("1", "\u200c")


# Encodings added after the corpus first had negatives: positives only, for the same reason.
MORE_ENCODINGS: dict[str, Callable[[str], str]] = {
    "binary": lambda text: " ".join(f"{byte:08b}" for byte in text.encode()),
    "base85": lambda text: base64.b85encode(text.encode()).decode(),
    "ascii85": lambda text: base64.a85encode(text.encode()).decode(),
    "base64_reversed": lambda text: _b64(text.encode())[::-1],
    "base64_rot13": lambda text: codecs.encode(_b64(text.encode()), "rot13"),
    "octal_bytes": lambda text: " ".join(f"{byte:o}" for byte in text.encode()),
    "uu": lambda text: codecs.encode(text.encode(), "uu").decode(),
    "base64_groups": lambda text: " ".join(textwrap.wrap(_b64(text.encode()), 4)),
    "base64_folded": lambda text: "\n".join(textwrap.wrap(_b64(text.encode()), 8)),
    "base58": lambda text: b58encode(text.encode()),
    "zero_width_bits": lambda text: "Noted, thanks." + zero_width_bits(text.encode()),
    "base64_of_xor": lambda text: _b64(bytes(byte ^ 0x5A for byte in text.encode())),
}


_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    """Bitcoin's base58, as `base58.b58encode` writes it (written out: no dependency for it)."""
    value, digits = int.from_bytes(data, "big"), ""
    while value:
        value, digit = divmod(value, 58)
        digits = _B58_ALPHABET[digit] + digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


def _variants(text: str, *, secret: bool) -> Iterator[tuple[str, str]]:
    """The plain text and each single-layer encoding of it (and rewrite, for a secret)."""
    yield "plain", text
    for name, encode in ENCODINGS.items():
        yield name, encode(text)
    for name, hide in HIDDEN.items():
        yield name, hide(text)
    for name, encode in MORE_ENCODINGS.items():
        yield name, encode(text)
    if secret:
        for name, rewrite in SECRET_REWRITES.items():
            yield name, rewrite(text)


def positive_entries(rng: random.Random) -> Iterator[Entry]:
    """Every positive plant, plain and in every encoding."""
    for n, (plant, carrier) in enumerate(positives.plants(rng), start=1):
        detector = plant.family
        text = positives.render(rng, plant, carrier)
        secret = DETECTORS_BY_ID[detector].kind is Kind.SECRET
        for encoding, variant in _variants(text, secret=secret):
            entry_id = f"pos-{n:03d}-{plant.family}-{carrier}-{encoding}"
            yield Entry(entry_id, "positive", detector, encoding, carrier, variant)


def negative_entries(rng: random.Random) -> Iterator[Entry]:
    """Every near miss, plain; one in NEGATIVE_ENCODED_EVERY also in a rotating encoding."""
    names = list(ENCODINGS)
    n = 0
    for family, make, count in negatives.NEGATIVE_MAKERS:
        for _ in range(count):
            n += 1
            carrier, text = make(rng)
            entry_id = f"neg-{n:03d}-{family}-{carrier}-plain"
            yield Entry(entry_id, "negative", None, "plain", carrier, text)
            if n % NEGATIVE_ENCODED_EVERY == 0:
                encoding = names[(n // NEGATIVE_ENCODED_EVERY) % len(names)]
                entry_id = f"neg-{n:03d}-{family}-{carrier}-{encoding}"
                encoded = ENCODINGS[encoding](text)
                yield Entry(entry_id, "negative", None, encoding, carrier, encoded)


def build(seed: int = SEED) -> list[Entry]:
    """The whole corpus, positives first; the same seed always gives the same entries."""
    pos = list(positive_entries(random.Random(f"{seed}:positives")))
    neg = list(negative_entries(random.Random(f"{seed}:negatives")))
    return pos + neg


def dumps(entries: Sequence[Entry]) -> str:
    """JSON Lines, one entry per line, fields in a fixed order."""
    return "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in entries)


def load(path: Path = CORPUS_PATH) -> list[Entry]:
    """Read a corpus file back into entries."""
    with path.open(encoding="utf-8") as f:
        return [Entry(**json.loads(line)) for line in f if line.strip()]


def summary(entries: Sequence[Entry]) -> str:
    """Counts by label, detector and encoding."""
    by_label = Counter(e.label for e in entries)
    by_detector = Counter(e.detector for e in entries if e.detector)
    by_encoding = Counter((e.label, e.encoding) for e in entries)
    lines = [f"{label}: {n}" for label, n in sorted(by_label.items())]
    lines += [f"  {det}: {n}" for det, n in sorted(by_detector.items())]
    lines += [f"  {label}/{enc}: {n}" for (label, enc), n in sorted(by_encoding.items())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the corpus (or with --check, report whether the file is stale)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=CORPUS_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    entries = build()
    text = dumps(entries)
    if args.check:
        fresh = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("corpus is fresh" if fresh else f"{args.out} is stale: rerun the generator")
        return 0 if fresh else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(entries)} entries, {len(text.encode()) // 1024} KiB to {args.out}")
    print(summary(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
