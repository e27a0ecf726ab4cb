"""The tunnelling detector's memory: sliding windows and blocks, per client, all bounded.

A client must not be able to reset its own window, lift its own block or evict another client's
state by sending junk, so:
- windows are kept per client; a client's own windows evict only its own, the one with the
  least traffic first (distinct subdomains and forwarded questions over the long window; least
  recently used among equals): querying many other domains must not reset the window of the
  one the client tunnels through. Only names the rules would forward get a window (the caller
  decides: a name that is refused discloses nothing and must not cost anyone a slot);
- the table of clients with windows is bounded; evicting a client forgets its windows only,
  and what it sent stays counted by all clients' totals (proxy/dns/all_clients.py), which no
  number of addresses resets;
- blocks live in their own table and are never evicted while active. A client whose block table
  is full is blocked for every domain instead. When the table of blocked clients is full of
  active blocks, the detector fails closed: every client without an entry of its own is treated
  as blocked until the newest block could have ended.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.dns.all_clients import AllClients
from proxy.dns.counting import NameTraffic
from proxy.dns.tunnelling import Signal
from proxy.policy.dns_model import TunnelAction, TunnellingPolicy

TXT_LIKE_TYPES = frozenset({16, 10})  # TXT, NULL: the bulk channels of iodine and dnscat2
MAX_WINDOW_CLIENTS = 1024  # clients with windows; the least recently seen is forgotten
MAX_WINDOWS_PER_CLIENT = 32  # window keys per client (bounded by the rule file anyway)
MAX_BLOCKED_CLIENTS = 4096  # clients with an active block; never evicted while active
MAX_BLOCKS_PER_CLIENT = 32  # then the client is blocked for every domain


@dataclass
class _Window(NameTraffic):
    """One client's traffic under one window key: per-second buckets of questions, and its
    subdomains and forwarded questions (NameTraffic)."""

    buckets: deque[tuple[int, int, int]] = field(default_factory=deque)  # second, queries, txt
    queries: int = 0
    txt: int = 0

    def prune(self, now: float, policy: TunnellingPolicy) -> None:
        horizon = now - policy.window_seconds
        while self.buckets and self.buckets[0][0] < int(horizon):
            _, queries, txt = self.buckets.popleft()
            self.queries -= queries
            self.txt -= txt
        self.prune_traffic(now, policy.window_seconds, policy.long_window_seconds)

    def add(self, now: float, subdomain: str, txt_like: bool, policy: TunnellingPolicy) -> None:
        second = int(now)
        if self.buckets and self.buckets[-1][0] == second:
            _, queries, txt = self.buckets[-1]
            self.buckets[-1] = (second, queries + 1, txt + txt_like)
        else:
            self.buckets.append((second, 1, int(txt_like)))
        self.queries += 1
        self.txt += txt_like
        self.add_subdomain(subdomain, now, policy.max_unique_subdomains + 1,
                           policy.max_unique_subdomains_long + 1)

    def signals(self, policy: TunnellingPolicy) -> list[Signal]:
        found: list[Signal] = []
        if len(self.subdomains) > policy.max_unique_subdomains:
            found.append(Signal.UNIQUE_SUBDOMAINS)
        if len(self.long_subdomains) > policy.max_unique_subdomains_long:
            found.append(Signal.UNIQUE_SUBDOMAINS_LONG)
        if self.queries > policy.max_queries:
            found.append(Signal.QUERY_RATE)
        if self.queries >= policy.txt_share_min_queries and (
            self.txt / self.queries > policy.max_txt_share
        ):
            found.append(Signal.TXT_SHARE)
        return found

    def forward(self, now: float, policy: TunnellingPolicy) -> list[Signal]:
        """Count one question that goes upstream; the signals it raises."""
        self.add_forwarded(now, policy.window_seconds, policy.long_window_seconds)
        found: list[Signal] = []
        if self.forwarded.total > policy.max_forwarded:
            found.append(Signal.FORWARDED)
        if self.forwarded_long.total > policy.max_forwarded_long:
            found.append(Signal.FORWARDED_LONG)
        return found


@dataclass
class _Blocks:
    """One client's active blocks: per window key, or everything."""

    domains: dict[str, float] = field(default_factory=dict)  # key -> until
    everything_until: float = 0.0

    def until(self) -> float:
        return max([self.everything_until, *self.domains.values()])


class TunnelDetector:
    """Sliding windows per (client, window key) and the blocks detections cause."""

    def __init__(self, policy: TunnellingPolicy, clock: Callable[[], float], *,
                 max_window_clients: int = MAX_WINDOW_CLIENTS,
                 max_windows_per_client: int = MAX_WINDOWS_PER_CLIENT,
                 max_blocked_clients: int = MAX_BLOCKED_CLIENTS,
                 max_blocks_per_client: int = MAX_BLOCKS_PER_CLIENT) -> None:
        self.policy = policy
        self._clock = clock
        self._max_window_clients = max_window_clients
        self._max_windows_per_client = max_windows_per_client
        self._max_blocked_clients = max_blocked_clients
        self._max_blocks_per_client = max_blocks_per_client
        self._windows: OrderedDict[str, OrderedDict[str, _Window]] = OrderedDict()
        self._all_clients = AllClients(policy)
        self._blocks: dict[str, _Blocks] = {}
        self._saturated_until = 0.0  # blocked-client table full of active blocks: fail closed
        self._purged_at = float("-inf")

    def observe(self, client: str, key: str, subdomain: str, qtype: int, *,
                forwarded: bool = True, refused: bool = False) -> tuple[Signal, ...]:
        """Count one question; the window signals it raises (each at most once).

        `forwarded`: the question goes upstream unless refused (not answered from the cache or
        `network.hosts`); a caller that cannot tell says True. `refused`: something other than
        the windows refuses it already (labels that read as a payload under `action: block`, a
        credential in the name). A refused question (or, under `action: block`, one of a
        blocked client or domain, or one its window flags) counts in the
        client's own windows (distinct names, rate, TXT share) but not as forwarded, nor in
        the all-clients totals: it reaches nobody, and one client's refused flood must not be
        able to block a domain for everyone.
        """
        now = self._clock()
        policy = self.policy
        window = self._window(client, key)
        window.prune(now, policy)
        window.add(now, subdomain, qtype in TXT_LIKE_TYPES, policy)
        found = window.signals(policy)
        blocking = policy.action is TunnelAction.BLOCK
        if refused or (blocking and (found or self.blocked(client, key)
                                     or self.key_blocked(key))):
            return tuple(found)
        if forwarded:
            found += window.forward(now, policy)
            if blocking and found:
                return tuple(found)
        return tuple(found + self._all_clients.observe(now, key, subdomain,
                                                       forwarded=forwarded))

    def _window(self, client: str, key: str) -> _Window:
        windows = self._windows.get(client)
        if windows is None:
            windows = self._windows[client] = OrderedDict()
            if len(self._windows) > self._max_window_clients:
                # Forgets the client's own windows only, never a block: what it sent stays
                # counted in the all-clients totals, so cycling addresses resets nothing there.
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(client)
        window = windows.get(key)
        if window is None:
            if len(windows) >= self._max_windows_per_client:
                # The client's own window with the least traffic (NameTraffic.weight; the least
                # recently used of those: `min` keeps the first): not the one it tunnels through.
                del windows[min(windows, key=lambda k: windows[k].weight())]
            window = windows[key] = _Window()
        else:
            windows.move_to_end(key)
        return window

    def block(self, client: str, key: str) -> None:
        now = self._clock()
        until = now + self.policy.block_seconds
        blocks = self._blocks.get(client)
        if blocks is None:
            if len(self._blocks) >= self._max_blocked_clients and now - self._purged_at >= 1.0:
                self._forget_expired(now)  # at most once a second: a full scan
            if len(self._blocks) >= self._max_blocked_clients:
                # Every entry is an active block: none may go. Fail closed for everyone else.
                self._saturated_until = until
                return
            blocks = self._blocks[client] = _Blocks()
        if key in blocks.domains or len(blocks.domains) < self._max_blocks_per_client:
            blocks.domains[key] = until
            return
        # A full table: rather than forget a block, block the client for every domain.
        blocks.everything_until = until
        blocks.domains.clear()

    def block_key(self, key: str) -> None:
        """Block the window key for every client (all clients together look like a tunnel)."""
        self._all_clients.block(self._clock(), key)

    def key_blocked(self, key: str) -> bool:
        return self._all_clients.blocked(self._clock(), key)

    def blocked(self, client: str, key: str) -> bool:
        now = self._clock()
        blocks = self._blocks.get(client)
        if blocks is None:
            return now < self._saturated_until
        if now < blocks.everything_until:
            return True
        until = blocks.domains.get(key)
        if until is None:
            return False
        if now >= until:
            del blocks.domains[key]
            if blocks.until() <= now:
                del self._blocks[client]
            return False
        return True

    def _forget_expired(self, now: float) -> None:
        self._purged_at = now
        for client in [c for c, b in self._blocks.items() if b.until() <= now]:
            del self._blocks[client]
