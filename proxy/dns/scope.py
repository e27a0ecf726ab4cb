"""Which labels of a question the attacker chooses, and what its tunnelling window is keyed by.

The registered domain (public suffix list) is the natural key: `<payload>.attacker.example`
puts the payload under `attacker.example`. But under a wildcard that sits on a public suffix
(`*.githubusercontent.com`, `*.github.io`), the registered domain is `<payload>.github.io`
itself: keyed by it, every query would get a fresh window and no label would be checked. So the
key is the *shorter* of the registered domain and the base of the shortest wildcard pattern that
matches the name: both are suffixes of the name, and the shorter one is a name the client cannot
vary per query (the wildcard's base is fixed by the rule file; a registered domain shorter than
it is a suffix of it). Every label left of the key is checked per query and may be masked in
the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxy.dns.names import NameInfo, split_name
from proxy.policy.hosts import HostPattern
from proxy.policy.model import Policy


@dataclass(frozen=True, slots=True)
class Scope:
    key: str  # the window key: a suffix of the name the client cannot vary per query
    subdomain: str  # the rest, lower case: what the window counts as unique
    chosen: tuple[bytes, ...]  # the labels left of the key, as sent: checked per query


def wildcard_patterns(policy: Policy) -> tuple[HostPattern, ...]:
    """Every `*.base` pattern of the rule file, allow and deny alike."""
    return tuple(pattern for destination in policy.destinations
                 for pattern in destination.hosts if pattern.suffix)


def detection_scope(labels: tuple[bytes, ...], info: NameInfo,
                    wildcards: Iterable[HostPattern]) -> Scope:
    domain_labels = len(labels) - len(info.sub_labels)
    if info.host is None:  # not a host name: refused; keyed as name_info chose
        return Scope(key=info.domain, subdomain=info.subdomain, chosen=info.sub_labels)
    base_labels = [pattern.base.count(".") + 1 for pattern in wildcards
                   if pattern.matches(info.host)]
    keep = min([domain_labels, *base_labels])
    key, subdomain, chosen = split_name(labels, keep)
    return Scope(key=key, subdomain=subdomain, chosen=chosen)
