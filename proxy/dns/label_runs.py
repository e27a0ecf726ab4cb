"""Mixed-case base64 cut into short labels: masked in the audit line's `name`.

A label of `encoded_min_length` characters or more that reads as base64 is a tunnelling signal
(proxy/dns/tunnelling.py) and is masked. Cut into shorter labels the same data raises nothing,
and a key without its prefix (the 36 characters of a GitHub token) or without the context a
detector needs (`aws-secret-access-key.<20>.<20>`) is found by no detector: such names pass, as
docs/rules.md says, but the log must not keep them. So consecutive labels the client chose
that are base64url with an upper-case letter (host names are written in lower case) are joined,
and a run as long as `encoded_min_length` that reads as base64 is masked label by label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from proxy.dns.tunnelling import reads_as_base64

# base64url with an upper-case letter: what a token's piece looks like and a host's label not
_PIECE = re.compile(rb"[A-Za-z0-9_-]*[A-Z][A-Za-z0-9_-]*")


def base64_label_runs(chosen: Sequence[bytes], min_length: int) -> list[int]:
    """Indexes of the labels in runs of mixed-case base64 pieces at least `min_length` long."""
    masked: list[int] = []
    run: list[int] = []
    for index, label in enumerate((*chosen, b"")):  # the empty label ends the last run
        if _PIECE.fullmatch(label):
            run.append(index)
            continue
        if len(run) > 1:
            joined = b"".join(chosen[i] for i in run)
            if len(joined) >= min_length and reads_as_base64(joined):
                masked += run
        run = []
    return masked
