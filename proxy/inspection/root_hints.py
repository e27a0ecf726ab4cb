"""What one pass over all of a request's texts already knows of one of them (RootHints): the
searches that peeling it may skip. peel_hints.py fills it in; the peel (layers.py), the
decodings of the whole text (whole_text.py) and the run finders (encoded_runs.py) read it.
"""

from __future__ import annotations

from typing import NamedTuple


class RootHints(NamedTuple):
    """What one pass over all of a request's texts (peel_hints) already knows of one of them,
    so that peeling it skips searches whose answer is known. A False is certain: the pattern
    cannot match in the text. `areas`, when known, are where the runs of encoded_runs._ANY_RUN
    start, in order. Only the text itself is spared: what is decoded from it is searched in full."""

    base85: bool = True  # may hold a base85 token (encoded_runs._base85_tokens)
    escapes: bool = True  # whole_text._BACKSLASH_ESCAPE may match
    listed: bool = True  # encoded_runs._LISTED_HINT may match
    binary: bool = True  # encoded_runs._BINARY_HINT may match
    uu: bool = True  # encoded_runs._UU_HINT may match
    quoted_printable: bool = True  # whole_text.has_quoted_printable may be true
    grouped: bool = True  # encoded_runs._GROUPED_HINT may match
    areas: tuple[int, ...] | None = None


UNKNOWN = RootHints()
