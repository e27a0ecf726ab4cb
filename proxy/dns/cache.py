"""A bounded cache of upstream answers that honours their TTLs (clock injectable).

Each entry keeps its packed answer section, re-packed at most once per second so that the TTLs a
client sees count down. Least recently used entries go first when the cache is full.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dnslib import RR

from proxy.dns.answers import pack_records


@dataclass
class CachedAnswer:
    name: str
    qtype: int
    rcode: int
    records: list[RR]
    expires: float
    _packed_ttl: int = -1
    _packed: bytes = field(default=b"", repr=False)

    def packed(self, now: float) -> tuple[bytes, int]:
        """The answer section with TTLs as they stand now, and its record count."""
        remaining = max(0, math.ceil(self.expires - now))
        if remaining != self._packed_ttl:
            for record in self.records:
                record.ttl = remaining
            self._packed = pack_records(self.name, self.qtype, self.records)
            self._packed_ttl = remaining
        return self._packed, len(self.records)


class AnswerCache:
    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, int], CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str, qtype: int) -> CachedAnswer | None:
        key = (name, qtype)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, name: str, qtype: int, rcode: int, records: Sequence[RR], ttl: int) -> None:
        if self._max == 0 or ttl <= 0:
            return
        key = (name, qtype)
        self._entries[key] = CachedAnswer(name=name, qtype=qtype, rcode=rcode,
                                          records=list(records), expires=self._clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
