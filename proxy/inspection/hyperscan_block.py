"""One way to compile a list of patterns for hyperscan's block mode, each reported by its index:
the gates of the scanner's rewrites and the shifted key starts share it."""

from __future__ import annotations

try:
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None  # type: ignore[assignment]


def block_database(expressions: list[bytes], *, flags: int = 0) -> hyperscan.Database | None:
    """`expressions` compiled (block mode, every match reported, `flags` on each), a match's
    id the index of its expression; None without hyperscan."""
    if hyperscan is None:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=expressions, ids=list(range(len(expressions))),
                     elements=len(expressions), flags=flags)
    return database
