"""Texts already found clean, remembered by keyed hash so they are not inspected again.

An agent resends its whole conversation on every LLM call: most of each request is text this
process inspected a moment ago. A text whose every peeled layer scanned without a single match
(and within every limit) is clean for as long as the scanner and the peel depth stay the same,
so its second inspection can be skipped. Only the verdict "clean" is remembered, never a
finding, and never the text: the key is a hash under a secret key drawn at start-up, so the
cache holds nothing an attacker could read back, nor compute offline to forge a collision.

The hash is Python's own string hash (SipHash, keyed at random per process; it is cached on
the string, so it costs next to nothing), with the length: 64 bits a collision with which would
take a sender ~2**32 online attempts per entry without ever learning whether one worked. When
PYTHONHASHSEED pins that key, it is known, and a keyed BLAKE2b is used instead.

Bounded: past `max_entries` the oldest entries go first. Each cache belongs to one Gate, whose
scanner and policy it was filled under; a new policy gets a new cache.
"""

from __future__ import annotations

import hashlib
import os
import sys

DEFAULT_MAX_ENTRIES = 65536  # ~10 MB of keys in a dict
_DIGEST_BYTES = 16

CleanKey = tuple[int, int, bool] | bytes


class CleanTexts:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._key = os.urandom(32)
        self._builtin_hash_is_secret = bool(sys.flags.hash_randomization)
        self._seen: dict[CleanKey, None] = {}  # insertion-ordered: the oldest first

    def digest(self, text: str, *, peel: bool) -> CleanKey:
        """The key of `text` as inspected with or without peeling."""
        if self._builtin_hash_is_secret:
            return (hash(text), len(text), peel)
        data = text.encode("utf-8", "surrogatepass")
        person = b"peel" if peel else b"flat"
        return hashlib.blake2b(data, digest_size=_DIGEST_BYTES, key=self._key,
                               person=person).digest()

    def __contains__(self, digest: CleanKey) -> bool:
        return digest in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, digest: CleanKey) -> None:
        if self.max_entries <= 0 or digest in self._seen:
            return
        if len(self._seen) >= self.max_entries:
            del self._seen[next(iter(self._seen))]
        self._seen[digest] = None
