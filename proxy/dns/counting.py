"""Bounded counters over a sliding window, for the tunnelling detector (proxy/dns/windows.py).

Both take `now` from the caller's clock, which never goes back (time.monotonic, or a test's).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

SLOTS = 60  # buckets per window: a long window of an hour is counted by the minute


@dataclass(slots=True)
class SlidingCount:
    """Events over a sliding window, in at most SLOTS + 1 buckets whatever the rate.

    A bucket leaves the window whole, once all of it is older than the window: the total may
    include up to one bucket's width of older events, never miss a recent one (fail closed).
    """

    buckets: deque[list[int]] = field(default_factory=deque)  # [slot, events]
    total: int = 0

    def add(self, now: float, window: float, events: int = 1) -> None:
        slot = int(now // (window / SLOTS))
        if self.buckets and self.buckets[-1][0] == slot:
            self.buckets[-1][1] += events
        else:
            self.buckets.append([slot, events])
        self.total += events

    def prune(self, now: float, window: float) -> None:
        oldest_kept = int((now - window) // (window / SLOTS))
        while self.buckets and self.buckets[0][0] < oldest_kept:
            self.total -= self.buckets.popleft()[1]


@dataclass(slots=True)
class RecentSet:
    """Distinct keys seen within a window, oldest first, holding at most `cap` of them.

    Only "more than the threshold" must be known, so the caller passes threshold + 1 as `cap`:
    a key beyond it is not remembered (the set is already over), and memory stays bounded.
    """

    # hash(key) -> last seen: the hash is salted per process, and small.
    seen: OrderedDict[int, float] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self.seen)

    def add(self, key: str, now: float, cap: int) -> None:
        digest = hash(key)
        if digest in self.seen:
            self.seen[digest] = now
            self.seen.move_to_end(digest)
        elif len(self.seen) < cap:
            self.seen[digest] = now

    def prune(self, horizon: float) -> None:
        """Forget the keys last seen before `horizon`: the oldest are first, O(1) each."""
        seen = self.seen
        while seen and next(iter(seen.values())) < horizon:
            seen.popitem(last=False)
