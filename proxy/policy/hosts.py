"""One host normalisation for rule hosts and request hosts alike, and the host patterns of rules.

Two spellings of one destination must normalise to one string, or the allowlist can be walked round.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

import idna

MAX_HOST_LENGTH = 253  # RFC 1035, without the trailing dot
MAX_LABEL_LENGTH = 63
# Bounds the work done on hostile input before any other check; a valid host is far shorter.
MAX_RAW_HOST_LENGTH = 1024
# A number longer than this (after leading zeros) cannot fit in 32 bits in any radix we accept.
_MAX_NUMBER_DIGITS = 32

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_ZONE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
_DECIMAL = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")
# Zero-width joiners are legitimate inside some IDN labels (IDNA 2008 CONTEXTJ rules check them);
# every other invisible format character is refused so a name cannot hide one.
_ALLOWED_FORMAT_CHARS = frozenset("\u200c\u200d")

_CHAR_PROBLEMS = {
    "@": "must not contain '@': userinfo ('user@host') is not part of a host",
    "/": "must not contain '/': give the host alone, without a scheme or path",
    "\\": "must not contain '\\': give the host alone, without a path",
    "*": "must not contain '*': wildcards belong in host patterns, as the whole first label",
    "%": "must not contain '%' except before an IPv6 zone id, as in 'fe80::1%eth0'",
    ":": "must not contain ':' unless it is an IPv6 address: give the host without a port",
    "[": "must not contain '[' unless it is a bracketed IPv6 address such as '[::1]'",
    "]": "must not contain ']' unless it is a bracketed IPv6 address such as '[::1]'",
}


class HostError(ValueError):
    """A host or host pattern that cannot be used; the message says why and, if it can, the fix."""


def normalise_host(raw: str) -> str:
    """The canonical form of a host: lower case, punycode, no trailing dot, canonical IP literal.

    IPv4 in any spelling becomes a dotted quad; IPv6 becomes its compressed form without brackets
    or zone id. Anything that is not a clean host raises HostError.
    """
    _check_raw(raw)
    if raw.startswith("[") or ":" in raw:
        return str(_parse_ipv6(raw))

    text = raw if raw.isascii() else _uts46_remap(raw)
    text = text.lower()
    text = _strip_trailing_dot(raw, text)
    if not text:
        raise HostError(f"{raw!r} is not a host: it has no name before the dot.")

    labels = [_ascii_label(raw, label) for label in text.split(".")]
    host = ".".join(labels)
    if _ends_in_number(host):
        # WHATWG: a host whose last label is numeric is an IPv4 address or nothing, so that
        # "1.2.3.256" cannot be a name here and an address to the resolver.
        return str(_parse_ipv4(host, raw))
    if len(host) > MAX_HOST_LENGTH:
        raise HostError(f"{raw!r} is {len(host)} characters long; a host has at most 253.")
    return host


def parse_ip_literal(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host spells, or None when it is a domain name.

    IPv4 follows the WHATWG URL / inet_aton parser (1 to 4 parts, decimal, hex or octal; the last
    part fills the remaining bytes). IPv6 may be bracketed and carry a zone id, which is dropped.
    A literal that is malformed or overflows raises HostError instead of passing as a name.
    """
    _check_raw(host)
    if host.startswith("[") or ":" in host:
        return _parse_ipv6(host)
    text = host if host.isascii() else _uts46_remap(host)
    if _ends_in_number(text):
        return _parse_ipv4(text, host)
    return None


def is_ip_literal(host: str) -> bool:
    return parse_ip_literal(host) is not None


@dataclass(frozen=True)
class HostPattern:
    """An allowlist host: an exact name ("api.github.com") or every subdomain ("*.github.com")."""

    text: str  # normalised, as it should be shown: "*.github.com"
    suffix: bool  # True for a "*.suffix" pattern
    base: str  # the normalised host or suffix, without "*."

    def __post_init__(self) -> None:
        # Built only by parse in practice; refuse an inconsistent value built by hand.
        expected = f"*.{self.base}" if self.suffix else self.base
        if self.text != expected or not self.base:
            raise HostError(f"inconsistent host pattern {self!r}; build it with HostPattern.parse.")

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """Validate a rule's host at load time; a wrong one raises HostError with a fix."""
        suffix = text.startswith("*.")
        rest = text[2:] if suffix else text
        _check_wildcards(text, rest)
        if rest.startswith(".") and rest.strip("."):
            apex = rest.lstrip(".")
            raise HostError(
                f"host pattern {text!r} starts with a dot; did you mean '*.{apex}'? "
                f"Add '{apex}' too if the apex itself should be allowed."
            )
        try:
            base = normalise_host(rest)
        except HostError as error:
            raise HostError(f"host pattern {text!r} is not valid: {error}") from None
        address = parse_ip_literal(base)
        if address is not None:
            raise HostError(
                f"host pattern {text!r} is an IP address; addresses belong in CIDR rules "
                f"(for example '{address}/{address.max_prefixlen}' under cidrs), not in hosts."
            )
        if suffix and "." not in base:
            raise HostError(
                f"host pattern {text!r} would allow every name under the top-level domain "
                f"'{base}'; name a domain instead, for example '*.example.{base}'."
            )
        return cls(text=f"*.{base}" if suffix else base, suffix=suffix, base=base)

    def matches(self, host: str) -> bool:
        """`host` is already normalised. A suffix pattern does not match its apex."""
        if not self.suffix:
            return host == self.base
        # endswith plus one index: linear in the host's length, no pattern compiled from user text.
        boundary = len(host) - len(self.base) - 1
        return boundary > 0 and host.endswith(self.base) and host[boundary] == "."

    def __str__(self) -> str:
        return self.text


# --- checks shared by names and literals ---------------------------------------------------


def _check_raw(raw: str) -> None:
    if not raw:
        raise HostError("the host is empty.")
    if len(raw) > MAX_RAW_HOST_LENGTH:
        raise HostError(f"the host is {len(raw)} characters long; a host has at most 253.")
    for char in raw:
        if char.isspace():
            raise HostError(f"{raw!r} is not a host: it must not contain whitespace.")
        category = unicodedata.category(char)
        if category == "Cc" or (category == "Cf" and char not in _ALLOWED_FORMAT_CHARS):
            raise HostError(
                f"{raw!r} is not a host: it must not contain control or invisible characters "
                f"(U+{ord(char):04X})."
            )
    for char in "@/\\*":
        if char in raw:
            raise HostError(f"{raw!r} is not a host: it {_CHAR_PROBLEMS[char]}.")


def _uts46_remap(raw: str) -> str:
    """Map full-width forms, ideographic dots and upper case as UTS 46 says browsers do."""
    try:
        return str(idna.uts46_remap(raw, std3_rules=False, transitional=False))
    except UnicodeError as error:  # idna.IDNAError and the codec errors it may let through
        raise HostError(f"{raw!r} is not a valid internationalised host: {error}.") from None


def _strip_trailing_dot(raw: str, text: str) -> str:
    if text.endswith(".."):
        raise HostError(f"{raw!r} ends with two dots; a host may end with at most one.")
    return text.removesuffix(".")


def _ascii_label(raw: str, label: str) -> str:
    if not label:
        raise HostError(f"{raw!r} has an empty label (two dots in a row, or a leading dot).")
    if not label.isascii():
        try:
            label = idna.encode(label, uts46=True).decode("ascii")
        except UnicodeError as error:
            raise HostError(f"{raw!r} is not a valid internationalised host: {error}.") from None
    for char in label:
        if char not in _NAME_CHARS:
            problem = _CHAR_PROBLEMS.get(char, f"must not contain {char!r}")
            raise HostError(f"{raw!r} is not a host: it {problem}.")
    if len(label) > MAX_LABEL_LENGTH:
        raise HostError(f"{raw!r} has a label of {len(label)} characters; a label has at most 63.")
    if label.startswith("-") or label.endswith("-"):
        raise HostError(f"{raw!r} has a label {label!r} that starts or ends with '-'.")
    return label


# --- IPv4 (WHATWG URL IPv4 parser, the same numbers inet_aton accepts) ---------------------


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    if last and all(char in _DECIMAL for char in last):
        return True
    return last[:2] in ("0x", "0X") and all(char in _HEX for char in last[2:])


def _parse_ipv4_number(part: str) -> int | None:
    if not part:
        return None
    digits, radix, allowed = part, 10, _DECIMAL
    if part[:2] in ("0x", "0X"):
        digits, radix, allowed = part[2:], 16, _HEX
    elif len(part) > 1 and part[0] == "0":
        digits, radix, allowed = part[1:], 8, _OCTAL
    if not digits:
        return 0  # "0x" alone is zero, as in browsers
    # Checked by hand: int() would also accept '+', '_' and surrounding whitespace.
    if not all(char in allowed for char in digits):
        return None
    if len(digits.lstrip("0")) > _MAX_NUMBER_DIGITS:
        return 1 << 40  # certainly out of range; avoids int() on a huge string
    return int(digits, radix)


def _parse_ipv4(text: str, raw: str) -> IPv4Address:
    parts = text.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise HostError(f"{raw!r} ends in a number but has {len(parts)} parts; IPv4 has at most 4.")
    numbers: list[int] = []
    for part in parts:
        number = _parse_ipv4_number(part)
        if number is None:
            raise HostError(
                f"{raw!r} ends in a number but is not an IPv4 address: {part!r} is not a number."
            )
        numbers.append(number)
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        raise HostError(f"{raw!r} is not an IPv4 address: a part is out of range.")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


# --- IPv6 ----------------------------------------------------------------------------------


def _parse_ipv6(raw: str) -> IPv6Address:
    inner = raw
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise HostError(
                f"{raw!r} opens '[' without closing it at the end; give the address without a port."
            )
        inner = raw[1:-1]
    address_text, has_zone, zone = inner.partition("%")
    if has_zone and (not zone or not all(char in _ZONE_CHARS for char in zone)):
        raise HostError(f"{raw!r} has an invalid IPv6 zone id {zone!r}.")
    try:
        # The zone is dropped: what is safe to dial depends on the address, not the interface.
        return IPv6Address(address_text)
    except ValueError:
        pass
    if not raw.startswith("[") and raw.count(":") == 1:
        raise HostError(f"{raw!r} is not a host: it {_CHAR_PROBLEMS[':']}.")
    raise HostError(f"{raw!r} is not a valid IPv6 address.")


# --- host patterns -------------------------------------------------------------------------


def _check_wildcards(text: str, rest: str) -> None:
    """Only "*." as the whole first label is a wildcard; anything else gets a suggested fix."""
    if "*" not in text or (text.startswith("*.") and "*" not in rest):
        return
    if text in ("*", "*."):
        raise HostError(
            f"host pattern {text!r} would allow every host; list the hosts or domains instead."
        )
    # The name after the last wildcard is what the author most likely meant to cover.
    after = text.rpartition("*")[2]
    tail = after.lstrip(".")
    if text.startswith("**"):
        problem = "uses '**'; a single '*.' already covers subdomains at any depth"
    elif text.startswith("*.") and "*" in rest:
        problem = "has more than one wildcard; a single '*.' already covers subdomains at any depth"
    elif text.startswith("*") and text.count("*") == 1:
        if "." not in tail:
            raise HostError(
                f"host pattern {text!r} has a partial wildcard; list the hosts instead."
            )
        raise HostError(
            f"host pattern {text!r} has a partial wildcard; did you mean '*.{tail}' for its "
            f"subdomains, plus '{tail}' for the apex?"
        )
    else:
        problem = (
            "has a wildcard inside the name; '*' may only be the whole first label, "
            "as in '*.example.com'"
        )
        # "api*.x.com" and "a.*.x.com" both most likely mean the domain after the wildcard's label.
        tail = after[1:] if after.startswith(".") else after.partition(".")[2]
    raise HostError(f"host pattern {text!r} {problem}:{_suggest(tail)}")


def _suggest(tail: str) -> str:
    if "." in tail:
        return f" did you mean '*.{tail}'?"
    return " list the hosts instead."
