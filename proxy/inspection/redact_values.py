"""What may stand in for a matched value in logs and answers: a keyed hash and a masked preview."""

from __future__ import annotations

import hashlib
import hmac

# Public prefixes that identify a token's kind without revealing any of its secret part; a preview
# shows the prefix, cut to four characters.
_PUBLIC_PREFIXES = (
    "AKIA", "ASIA", "ABIA", "ACCA", "A3T", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "sk-ant-", "sk-proj-", "sk-", "xox", "xapp-", "npm_", "pypi-",
    "sk_live_", "rk_live_", "SG.", "sq0csp-", "AKC", "eyJ", "-----BEGIN", "PuTTY-User-Key-File",
)
_MAX_SHOWN = 4  # characters of a value a preview may ever show
_SHORT = 8  # values this short show only their length: two characters of 8 are a quarter of it


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the value under the deployment's key, hex: comparable, not reversible."""
    if not key:
        raise ValueError("keyed_hash needs a non-empty key")
    # surrogatepass: a value cut from undecodable bytes must hash, never raise on the audit path
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def mask(value: str) -> str:
    """A preview such as "AKIA…(20)": a known public prefix (at most 4 chars) or 2 chars, then the
    length; for values of 8 characters or fewer, only the length: "…(6)"."""
    if len(value) <= _SHORT:
        return f"…({len(value)})"
    prefix = max((p for p in _PUBLIC_PREFIXES if value.startswith(p)), key=len, default="")
    shown = min(len(prefix), _MAX_SHOWN) if prefix else 2  # "sk-" shows 3, never a secret char
    return f"{value[:shown]}…({len(value)})"
