"""From the labels of a question to the names the DNS server reasons about.

A label on the wire may hold any byte, including '.', so labels are never joined blindly: a name
whose labels are not plain host characters is not a host (it is refused, never matched or
forwarded). The host itself goes through the one normalisation of proxy/policy/hosts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from proxy.policy.hosts import HostError, normalise_host, parse_ip_literal

_HOST_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_PRINTABLE = frozenset(range(0x21, 0x7F)) - frozenset(b".\\\"();$@")
_PSL = PublicSuffixList()  # the bundled list: offline, loaded once
NAME_CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class NameInfo:
    host: str | None  # normalised host name; None when the labels are not a host name
    display: str  # presentation form, escaped like dig prints it (for logs)
    domain: str  # registered domain (public suffix + one label), the tunnelling window's key
    subdomain: str  # what is left of the name under `domain` ("" for the domain itself)
    sub_labels: tuple[bytes, ...]  # the labels under `domain`, as sent


def presentation(labels: tuple[bytes, ...]) -> str:
    """'a.b.' style text with '.', '\\' and non-printable bytes escaped (RFC 1035 5.1)."""
    if not labels:
        return "."
    return ".".join(_escape(label) for label in labels) + "."


def _escape(label: bytes) -> str:
    out = []
    for byte in label:
        if byte in _PRINTABLE:
            out.append(chr(byte))
        elif byte in b".\\\"();$@":
            out.append("\\" + chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


@lru_cache(maxsize=NAME_CACHE_SIZE)
def name_info(labels: tuple[bytes, ...]) -> NameInfo:
    display = presentation(labels)
    host = _host(labels)
    lowered = tuple(label.lower() for label in labels)
    domain_labels = _domain_label_count(host, lowered)
    split = len(labels) - domain_labels
    domain = ".".join(label.decode("ascii", "replace") for label in lowered[split:])
    subdomain = ".".join(label.decode("latin-1") for label in lowered[:split])
    return NameInfo(host=host, display=display, domain=domain or ".", subdomain=subdomain,
                    sub_labels=labels[:split])


def _host(labels: tuple[bytes, ...]) -> str | None:
    if not labels or any(not label or not set(label) <= _HOST_BYTES for label in labels):
        return None
    text = b".".join(labels).decode("ascii")
    try:
        host = normalise_host(text)
    except HostError:
        return None
    # A question for "127.0.0.1" or "2130706433" names an address, not a host.
    return None if parse_ip_literal(host) is not None else host


def _domain_label_count(host: str | None, lowered: tuple[bytes, ...]) -> int:
    if host is not None:
        private = _PSL.privatesuffix(host)
        if private is not None:
            return private.count(".") + 1
        return len(lowered)  # the name is itself a public suffix
    # Not a host: key by the last two labels, so that junk under one domain is counted together.
    return min(2, len(lowered))


def split_name(labels: tuple[bytes, ...], keep: int) -> tuple[str, str, tuple[bytes, ...]]:
    """(the last `keep` labels, lower case; the rest, lower case; the rest as sent)."""
    split = max(0, len(labels) - keep)
    lowered = tuple(label.lower() for label in labels)
    key = ".".join(label.decode("ascii", "replace") for label in lowered[split:])
    rest = ".".join(label.decode("latin-1") for label in lowered[:split])
    return key or ".", rest, labels[:split]
