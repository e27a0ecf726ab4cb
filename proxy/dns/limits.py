"""Per-client fairness: a token bucket per client address, checked before a packet is parsed.

A flooding client spends its own tokens and is then dropped at the cost of a dictionary lookup,
so the server keeps its time for everyone else. A packet that made more work than an ordinary
one (a long name of many labels, scanned for secrets) is charged more tokens after the fact, so
a client's share of the CPU stays bounded by its rate whatever it asks. The table of buckets is
bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

MAX_CLIENTS = 65_536


class ClientBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float],
                 max_clients: int = MAX_CLIENTS) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # client -> [tokens, last]

    def take(self, client: str) -> bool:
        """Spend one token of `client`; False when it has none left (drop the packet)."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max:
                # The least recently seen client forgets its debt: the worst it gains is a burst.
                self._buckets.popitem(last=False)
            self._buckets[client] = [self._burst - 1.0, now]
            return True
        self._buckets.move_to_end(client)
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def charge(self, client: str, tokens: float) -> None:
        """Spend `tokens` more of `client`'s bucket for work its packet made (a costly name):
        the debt delays its next packets. Never below -burst: a client can always recover."""
        bucket = self._buckets.get(client)
        if bucket is not None and tokens > 0:
            bucket[0] = max(-self._burst, bucket[0] - tokens)
