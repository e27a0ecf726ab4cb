"""What all clients together send under each window key, and the keys blocked for everyone.

Per-client windows (proxy/dns/windows.py) are keyed by source address, so 40 addresses carry 40
times one address's budget, and more addresses than the client table holds make it forget them.
These totals do not depend on the client table: every question some client's own windows let
through is counted here, so cycling addresses resets nothing. A total over its threshold blocks
the key for every client (fail closed).

Bounded like the rest: a key's sets hold at most threshold + 1 subdomains; the table holds
MAX_KEYS keys (window keys come from the rule file's names, so it rarely fills), and a full one
evicts the key with the least traffic, not the one being tunnelled through. Key blocks live in
their own table and are never evicted while active: when it is full of active blocks, every key
is blocked until the newest block could have ended.
"""

from __future__ import annotations

from proxy.dns.counting import NameTraffic
from proxy.dns.tunnelling import Signal
from proxy.policy.dns_model import TunnellingPolicy

MAX_KEYS = 1024  # window keys with totals
MAX_BLOCKED_KEYS = 4096  # window keys with an active block for everyone


class AllClients:
    def __init__(self, policy: TunnellingPolicy, *, max_keys: int = MAX_KEYS,
                 max_blocked_keys: int = MAX_BLOCKED_KEYS) -> None:
        self.policy = policy
        self._max_keys = max_keys
        self._max_blocked_keys = max_blocked_keys
        self._totals: dict[str, NameTraffic] = {}
        self._blocks: dict[str, float] = {}  # key -> until
        self._saturated_until = 0.0
        self._purged_at = float("-inf")

    def observe(self, now: float, key: str, subdomain: str, *,
                forwarded: bool) -> list[Signal]:
        """Count one question that is on its way to an answer; the signals it raises."""
        policy = self.policy
        totals = self._totals_of(key)
        totals.prune_traffic(now, policy.window_seconds, policy.long_window_seconds)
        totals.add_subdomain(subdomain, now, policy.all_clients_max_unique_subdomains + 1,
                             policy.all_clients_max_unique_subdomains_long + 1)
        if forwarded:
            totals.add_forwarded(now, policy.window_seconds, policy.long_window_seconds)
        found: list[Signal] = []
        if len(totals.subdomains) > policy.all_clients_max_unique_subdomains:
            found.append(Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS)
        if len(totals.long_subdomains) > policy.all_clients_max_unique_subdomains_long:
            found.append(Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS_LONG)
        if totals.forwarded.total > policy.all_clients_max_forwarded:
            found.append(Signal.ALL_CLIENTS_FORWARDED)
        if totals.forwarded_long.total > policy.all_clients_max_forwarded_long:
            found.append(Signal.ALL_CLIENTS_FORWARDED_LONG)
        return found

    def _totals_of(self, key: str) -> NameTraffic:
        totals = self._totals.get(key)
        if totals is None:
            if len(self._totals) >= self._max_keys:
                # A full scan, only when a new key arrives at a full table.
                lightest = min(self._totals, key=lambda k: self._totals[k].weight())
                del self._totals[lightest]
            totals = self._totals[key] = NameTraffic()
        return totals

    def block(self, now: float, key: str) -> None:
        until = now + self.policy.block_seconds
        if key not in self._blocks:
            if len(self._blocks) >= self._max_blocked_keys and now - self._purged_at >= 1.0:
                self._purged_at = now  # at most once a second: a full scan
                self._blocks = {k: u for k, u in self._blocks.items() if u > now}
            if len(self._blocks) >= self._max_blocked_keys:
                # Every entry is an active block: none may go. Fail closed for every key.
                self._saturated_until = until
                return
        self._blocks[key] = until

    def blocked(self, now: float, key: str) -> bool:
        if now < self._saturated_until:
            return True
        until = self._blocks.get(key)
        if until is None:
            return False
        if now >= until:
            del self._blocks[key]
            return False
        return True
