"""Request paths in the forms the allowlist compares: what the upstream will understand.

A path rule compared with the raw path is bypassed by `/v1/messages/../../admin`, `/%61dmin` or
`//admin`. Allow entries are compared with a canonical path (dot segments resolved, unreserved
escapes decoded, repeated slashes folded: a request outside the prefix never matches). Deny
entries are compared with a more aggressive form as well (every escape decoded, backslashes as
slashes, `;params` dropped, case folded), so no server's reading of the path dodges a deny.
"""

from __future__ import annotations

import re

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
MAX_DECODE_ROUNDS = 3  # %252e%252e -> %2e%2e -> ..: servers that decode twice exist


def canonical_path(raw: str) -> str:
    """Decode unreserved escapes, upper-case the others, resolve dot segments, fold `//`."""

    def unescape_unreserved(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _resolve_segments(_ESCAPE.sub(unescape_unreserved, _strip_query(raw)))


def aggressive_path(raw: str) -> str:
    """The widest reading of a path any server might take; compared case-folded with denies."""
    path = _strip_query(raw)
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), path)
        if decoded == path:
            break
        path = decoded
    path = path.replace("\\", "/")
    path = "/".join(segment.split(";", 1)[0] for segment in path.split("/"))
    return _resolve_segments(path).casefold()


def has_path_prefix(path: str, prefix: str) -> bool:
    """Prefix match on whole segments: "/v1/messages" allows "/v1/messages/x", not ".../mX"."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def _strip_query(raw: str) -> str:
    return raw.split("?", 1)[0].split("#", 1)[0]


def _resolve_segments(path: str) -> str:
    """RFC 3986 remove_dot_segments, with empty segments folded; always absolute."""
    stack: list[str] = []
    segments = path.split("/")
    for segment in segments:
        if segment in ("", "."):
            continue
        if segment == "..":
            if stack:
                stack.pop()
            continue
        stack.append(segment)
    trailing = "/" if stack and segments[-1] in ("", ".", "..") else ""
    return "/" + "/".join(stack) + trailing
