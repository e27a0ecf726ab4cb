"""Bounded counters over a sliding window, for the tunnelling detector (proxy/dns/windows.py,
one client's windows, and proxy/dns/all_clients.py, all clients' totals).

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


@dataclass
class NameTraffic:
    """Distinct subdomains and questions forwarded upstream under one window key, over the
    short and the long window: what one client's window and all clients' totals both count
    (each with its own thresholds, given as caps: threshold + 1)."""

    subdomains: RecentSet = field(default_factory=RecentSet)
    # The same over the long window (a slow tunnel stays under the short one's threshold).
    long_subdomains: RecentSet = field(default_factory=RecentSet)
    # Questions that went upstream: repeats of a few names whose answers keep expiring.
    forwarded: SlidingCount = field(default_factory=SlidingCount)
    forwarded_long: SlidingCount = field(default_factory=SlidingCount)

    def prune_traffic(self, now: float, window: float, long_window: float) -> None:
        self.subdomains.prune(now - window)
        self.long_subdomains.prune(now - long_window)
        self.forwarded.prune(now, window)
        self.forwarded_long.prune(now, long_window)

    def add_subdomain(self, subdomain: str, now: float, cap: int, long_cap: int) -> None:
        self.subdomains.add(subdomain, now, cap)
        self.long_subdomains.add(subdomain, now, long_cap)

    def add_forwarded(self, now: float, window: float, long_window: float) -> None:
        self.forwarded.add(now, window)
        self.forwarded_long.add(now, long_window)

    def weight(self) -> int:
        """How much is going on under the key: the lightest is evicted first."""
        return len(self.long_subdomains) + self.forwarded_long.total
