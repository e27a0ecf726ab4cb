"""A text to scan and where it sits (`Field`), how names are shown in locations, and joins of
short values (a secret cut into pieces over several fields). Shared by the body, JSON, form
and multipart readers and by the URL and header texts (addons/request_texts.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from proxy.inspection.transforms import KEY_STARTS

MIN_FIELD_CHARS = 6  # a shorter string holds no detectable secret or PII on its own ("a@b.io")
NUMBER_DIGITS = range(9, 20)  # integers yielded as text: SSN (9) to the longest card (19)
# Pieces of a join: a secret may be cut into single characters (a JSON array of them). Joins
# are scanned for secrets only (engine.is_joined), so digits glued into card-like numbers are not
# a concern there.
JOIN_PART_MIN = 1
# A join with pieces shorter than this is made twice, with and without them: a secret cut in two
# with "ok" between its halves, and a secret spelled one character at a time, are both caught.
# Also the shortest piece of the pair and triple windows (joined_neighbours): shorter ones make
# windows too short to hold a secret.
SHORT_PART = 3
JOIN_PART_MAX = 64  # longer strings are scanned on their own
JOIN_MAX_CHARS = 1024  # one joined field at most
PLAIN_NAME_MAX = 32  # longer names are shown by position: secrets are long
PLAIN_NAME_SHORT = 8  # names this short are always shown: too short to be a secret
PLAIN_WORD_MAX = 16  # longest camelCase/snake_case word in a shown name (uppercase: 12)
PLAIN_UPPER_WORD_MAX = 12
_NAME = re.compile(r"[@$]?[A-Za-z_][A-Za-z0-9_.\-]*")
_DIGITS_INSIDE = re.compile(r"[0-9](?:[A-Za-z]|[0-9]{4})")  # a word goes on after its number
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


class Field(NamedTuple):
    """A text to scan and where it sits in the body; `peel` says whether to decode layers.
    (A tuple, not a frozen dataclass: a body makes a hundred of these.)"""

    location: str
    text: str
    peel: bool = True


def is_plain_name(name: str) -> bool:
    """Whether a key or field name looks like an identifier, safe to show in a location.

    Long names, digits inside a word, long letter runs and many one-letter words are what
    random tokens look like: such names could be secrets and are shown by position instead.
    """
    return name in _COMMON_PLAIN_NAMES or _looks_plain(name)


def _looks_plain(name: str) -> bool:
    """is_plain_name's rules."""
    if len(name) > PLAIN_NAME_MAX:
        return False
    # An ASCII Python identifier matches _NAME: most names, told without the regex.
    identifier = name.isascii() and name.isidentifier()
    if not identifier and not _NAME.fullmatch(name):
        return False
    if len(name) <= PLAIN_NAME_SHORT:
        return True
    if identifier and name.islower() and name.replace("_", "").isalpha():
        words = name.replace("_", " ").split()  # lowercase snake_case, the common long name
    elif _DIGITS_INSIDE.search(name):
        # Each run of letters and digits between separators must be letters, then at most a
        # short number: a letter after a digit, or five digits in a row, is not a plain name.
        return False
    else:
        words = _WORD.findall(name)  # a separator or digit ends a word as the name's end does
    for word in words:
        if len(word) > (PLAIN_UPPER_WORD_MAX if word.isupper() else PLAIN_WORD_MAX):
            return False
    return bool(words) and sum(map(len, words)) >= 3 * len(words)


# Names most requests carry (HTTP headers, JSON keys of LLM APIs), those the rules pass: told
# by a set lookup, not the regexes. Fixed here: no name from a request is ever kept.
_COMMON_PLAIN_NAMES = frozenset(filter(_looks_plain, (
    # HTTP headers, lower-cased as locations show them
    "accept", "accept-encoding", "accept-language", "authorization", "cache-control",
    "connection", "content-encoding", "content-length", "content-type", "cookie", "host",
    "origin", "referer", "transfer-encoding", "user-agent", "x-api-key", "x-request-id",
    "anthropic-version", "anthropic-beta", "openai-organization", "openai-project",
    "x-stainless-arch", "x-stainless-lang", "x-stainless-os", "x-stainless-package-version",
    "x-stainless-retry-count", "x-stainless-runtime", "x-stainless-runtime-version",
    # JSON keys of chat, responses and messages APIs
    "arguments", "content", "description", "frequency_penalty", "function", "function_call",
    "id", "image_url", "input", "input_schema", "instructions", "max_completion_tokens",
    "max_output_tokens", "max_tokens", "messages", "metadata", "model", "name",
    "parallel_tool_calls", "parameters", "presence_penalty", "properties", "reasoning",
    "reasoning_effort", "required", "response_format", "role", "seed", "stop",
    "stop_sequences", "stream", "stream_options", "system", "temperature", "text",
    "tool_call_id", "tool_calls", "tool_choice", "tool_use_id", "tools", "top_k", "top_p",
    "type", "url", "user",
)))


def name_segment(name: str, index: int) -> str:
    """A name as shown in a location: itself when plain, else "#index"."""
    return name if is_plain_name(name) else f"#{index}"


MAX_JOIN_WINDOWS = 64  # pairs and triples of neighbours, at most, per list of values
MAX_KEY_START_WINDOWS = 256  # and, past those, windows whose first piece starts like a key


def joined_neighbours(location: str, values: list[str]) -> Iterator[Field]:
    """Each two and three neighbouring short values joined on their own.

    The join of all values glues a split secret to the values around it (`<id>AKIA...`),
    where detectors that need a boundary no longer see it; a secret split in two or three
    has its own window here. Meant for short lists (a query string): the cost grows with
    the number of values, bounded by MAX_JOIN_WINDOWS.
    """
    parts = [p for p in values if SHORT_PART <= len(p) <= JOIN_PART_MAX]
    windows = keyed = 0
    for size in (2, 3):
        for start in range(len(parts) - size + 1):
            if windows < MAX_JOIN_WINDOWS:
                windows += 1
                yield Field(location, "".join(parts[start:start + size]))
            elif keyed < MAX_KEY_START_WINDOWS and parts[start].startswith(KEY_STARTS):
                # Past the cap, a window that starts like a key of a fixed shape is still
                # made: 70 padding parameters before a key in two pieces hid it (red team
                # exfil5).
                keyed += 1
                yield Field(location, "".join(parts[start:start + size]))


MAX_SUFFIX_JOINS = 32  # segments of a path joined from each one on, at most
WINDOW_MAX_CHARS = 128  # a window's length at most: longer than the keys it is there for


def joined_suffixes(location: str, values: list[str]) -> Iterator[Field]:
    """The values joined from each one to the last (JOIN_MAX_CHARS at most), for two or more.

    For a URL path: a key cut into many short segments (`/ghp_R/8xkq2/ZVbN5/...`) is too many
    pieces for the windows of joined_neighbours, and the join of all of them glues it to the
    segments before it (`/api/upload/ghp_R/...`), where a detector that needs a boundary does
    not find it; a join that starts at the key's first segment does. A path has few segments."""
    parts = _pieces(values)
    for start in range(len(parts) - 1):
        yield Field(location, "".join(parts[start:])[:JOIN_MAX_CHARS])


def joined_key_windows(location: str, values: list[str]) -> Iterator[Field]:
    """From each value where the values joined start like a key of a fixed shape
    (transforms.KEY_STARTS), the joins that end at each later value but the last, up to
    WINDOW_MAX_CHARS (joined_suffixes has the one to the end): a key cut into path segments
    with more after it (`/files/AKI/A2O/.../raw`), which a join to the end glues to them."""
    parts = _pieces(values)
    for start in range(len(parts) - 2):
        if not "".join(parts[start:start + _KEY_START_PIECES]).startswith(KEY_STARTS):
            continue
        joined = parts[start]
        for end in range(start + 1, len(parts) - 1):
            joined += parts[end]
            if len(joined) > WINDOW_MAX_CHARS:
                break
            yield Field(location, joined)


_KEY_START_PIECES = max(map(len, KEY_STARTS))  # pieces enough to spell the longest start


def _pieces(values: list[str]) -> list[str]:
    return [p for p in values if JOIN_PART_MIN <= len(p) <= JOIN_PART_MAX][:MAX_SUFFIX_JOINS]


def joined_field(location: str, values: list[str]) -> Iterator[Field]:
    """The short strings among `values` joined in order, when there are two or more: for a
    secret split over several fields of one object, array, form or query string."""
    parts = [p for p in values if JOIN_PART_MIN <= len(p) <= JOIN_PART_MAX]
    for text in joins(parts):
        yield Field(location, text)


def joins(parts: list[str]) -> list[str]:
    """The joins of `parts` (each JOIN_PART_MIN to JOIN_PART_MAX characters): all of them, and,
    when some are shorter than SHORT_PART, the others alone; none of fewer than two pieces."""
    if len(parts) < 2:
        return []
    joined = "".join(parts)[:JOIN_MAX_CHARS]
    if min(map(len, parts)) >= SHORT_PART:  # most joins (map and min run in C)
        return [joined]
    longer = [part for part in parts if len(part) >= SHORT_PART]
    if len(longer) < 2:
        return [joined]
    return [joined, "".join(longer)[:JOIN_MAX_CHARS]]
