"""Rewrites of a whole text that one line of code undoes: reversed, rot13, case, groups joined.

They are not layers to peel (nothing marks them, and any text "decodes" under them), so they are
scanned, not peeled: every text and every peeled layer is also scanned reversed, rot13'd and
with the case of its ASCII letters swapped, for secret detectors only, and with its spaces, its
dashes, or its white space and punctuation removed ("unspaced", "undashed", "unseparated": a key
written in groups or cut into pieces), or its XML/HTML markup removed ("unmarked": a key cut by
tags, comments or CDATA markers), or with a shift or a doubling undone where a key start so
enciphered is found ("unshifted", "undoubled": a Caesar cipher, `chr(ord(c) + 1)`, `AAKKIIAA`),
for the secret detectors of a fixed shape only (UNSPACED_DETECTORS); and a piece that starts
like such a key glued to the pieces after it ("rejoined": a key cut by words).
Personal data is left out: a reversed phone number or a rot13'd word that looks like an email
would double-count what the plain text already reports (PII thresholds count values per
request), and a secret is what these evasions are used for.

`Scanner.scan_many_and_rewrites` does this in one hyperscan pass per rewrite over all texts
joined, as `scan_many` does; `evaluate` scans each layer's rewrites one by one. Both use
TRANSFORMS.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import NamedTuple

from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.detectors import Detector, reads_as_words
from proxy.inspection.findings import Kind
from proxy.inspection.hyperscan_block import block_database
from proxy.inspection.textual import character_offsets, is_text

try:
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None  # type: ignore[assignment]

_ROT13_STR = str.maketrans(
    string.ascii_uppercase + string.ascii_lowercase,
    string.ascii_uppercase[13:] + string.ascii_uppercase[:13]
    + string.ascii_lowercase[13:] + string.ascii_lowercase[:13],
)
# The same on UTF-8 bytes: only ASCII letters move, and every byte of a multi-byte character is
# 0x80 or above, so rot13 of the encoded text is the encoding of the rot13'd text.
ROT13_BYTES = bytes.maketrans(
    (string.ascii_uppercase + string.ascii_lowercase).encode(),
    (string.ascii_uppercase[13:] + string.ascii_uppercase[:13]
     + string.ascii_lowercase[13:] + string.ascii_lowercase[:13]).encode(),
)


# swapcase touches ASCII letters only, so lengths and offsets (str and UTF-8) stay as they are.
_SWAPCASE_STR = str.maketrans(string.ascii_uppercase + string.ascii_lowercase,
                              string.ascii_lowercase + string.ascii_uppercase)
_UPPER_STR = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_UPPER_BYTES = bytes.maketrans(string.ascii_lowercase.encode(), string.ascii_uppercase.encode())
SWAPCASE_BYTES = bytes.maketrans(
    (string.ascii_uppercase + string.ascii_lowercase).encode(),
    (string.ascii_lowercase + string.ascii_uppercase).encode(),
)


def swapcase(text: str) -> str:
    """`text` with the case of its ASCII letters swapped: undone by itself."""
    return _ascii_translate(text, SWAPCASE_BYTES, _SWAPCASE_STR)


def upper_ascii(text: str) -> str:
    """`text` with its ASCII letters upper-cased, and nothing else changed: offsets hold (str's
    upper() turns "ß" into "SS")."""
    return _ascii_translate(text, _UPPER_BYTES, _UPPER_STR)


def _ascii_translate(text: str, table: bytes, str_table: dict[int, int]) -> str:
    """`text` with ASCII letters mapped by `table`, the rest kept. str.translate with a dict
    costs about 100 ns a character (0.9 s on an archive's 7 MB of text); bytes.translate over
    the UTF-8 changes only ASCII bytes, so every other character, and every offset, holds."""
    try:
        data = text.encode("utf-8", "surrogatepass")
    except UnicodeEncodeError:  # pragma: no cover - surrogatepass encodes any str
        return text.translate(str_table)
    return data.translate(table).decode("utf-8", "surrogatepass")


def reversed_text(text: str) -> str:
    return text[::-1]


def rot13(text: str) -> str:
    return _ascii_translate(text, ROT13_BYTES, _ROT13_STR)


def unspaced(text: str) -> str:
    """`text` without spaces and tabs: a key written in groups (`AKIA IOSF ODNN 7EXA MPLE`)."""
    return text.replace(" ", "").replace("\t", "")


def undashed(text: str) -> str:
    """`text` without dashes: a key written in groups (`AKIA-IOSF-ODNN-7EXA-MPLE`)."""
    return text.replace("-", "")


# White space and punctuation that a key may be cut by, one character at a time or in groups
# (`A.K.I.A...`, `AKIA2,OGYB,...`, one half per line, path segments, string literals glued with
# `"..." + "..."`). Not ":" and "=" (they stand between a name and its value: removing them would
# glue the value to the name), nor "-" and "_" (inside many keys' own formats).
SEPARATORS = " \t\r\n\f\v.,;|/\\'\"`+"


def unseparated(text: str) -> str:
    """`text` without SEPARATORS: a key cut by white space or punctuation."""
    return text.translate(_DROP_SEPARATORS)


_DROP_SEPARATORS = str.maketrans("", "", SEPARATORS)

# A key cut in two or three by words (`the first half is AKIA2OGYBA and the second H6STMMNXNQ`):
# a piece that starts like a key of a fixed shape, glued to the pieces of its alphabet that
# follow it within REJOIN_SPAN characters, leaving out plain lower-case words. Each candidate is
# a line of the rewritten text, scanned for the detectors of a fixed shape only.
REJOINED = "rejoined"
KEY_STARTS = ("AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
              "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "sk-ant-",
              "sk-proj-", "sk_live_", "rk_live_", "AIza", "npm_", "pypi-", "SG.", "eyJ")
REJOIN_SPAN = 200  # characters after the first piece in which the others are looked for
REJOIN_PIECES = 3  # pieces glued to the first, at most
_KEY_START = re.compile(
    "(?<![A-Za-z0-9_.-])(?:" + "|".join(map(re.escape, KEY_STARTS)) + ")[A-Za-z0-9_.-]*")
_PIECE = re.compile(r"[A-Za-z0-9_.-]{2,}")


# A key written in groups after a word (`my key is AKIA 2OGY BAH6 STMM NXNQ`, a CSV row, one
# group a line): from a piece that starts like a key, the groups that follow, each right after
# the one before it (1 to GROUP_GAP separator characters between them) and all as wide as the
# first but the last (which may be narrower), are glued on, each step a candidate, up to
# GROUPED_MAX characters: more pieces than REJOIN_PIECES, none skipped. Words of prose are not
# of one width, so a key start in prose is glued to a word or two at most.
GROUP_GAP = 3
GROUPED_MAX = 128
_NEXT_GROUP = re.compile(rf"[{re.escape(SEPARATORS)}]{{1,{GROUP_GAP}}}([A-Za-z0-9_.-]+)")


# The candidates of one text (rejoined), or its windows (unshifted), in characters, at most: a
# text of key starts alone (`AKIA AKIA AKIA ...`, each start glued to the groups after it)
# would make thousands of times its length. Past it, RewriteLimitExceeded: the request is
# blocked, not let through with the candidates after the decoys unmade.
REJOIN_BUDGET_FACTOR = 8
REJOIN_BUDGET_MIN = 64 * 1024


class RewriteLimitExceeded(DecodeLimitExceeded):
    """A rewrite would make more text than its budget (a flood of decoys)."""


def _rewrite_budget(text: str) -> int:
    return REJOIN_BUDGET_FACTOR * len(text) + REJOIN_BUDGET_MIN


def _find_all(text: str, needle: str, start: int = 0) -> Iterator[int]:
    """Where `needle` stands in `text`, from `start` on, overlaps included (str.find: a
    regex would look at every character)."""
    at = text.find(needle, start)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def rejoined(text: str) -> str:
    """Every piece that starts like a key, glued to 1 to REJOIN_PIECES of the pieces after it
    (not plain lower-case words), and to each run of groups right after it (see GROUP_GAP),
    one candidate a line; empty when there is none. Raises RewriteLimitExceeded past the
    budget (see REJOIN_BUDGET_FACTOR)."""
    candidates: list[str] = []
    budget = _rewrite_budget(text)
    for start in _KEY_START.finditer(text):
        if budget < 0:
            raise RewriteLimitExceeded("rejoined candidates exceed their budget")
        pieces = [piece for piece in _PIECE.findall(text, start.end(), start.end() + REJOIN_SPAN)
                  if not (piece.isalpha() and piece.islower())]
        joined = start.group()
        for piece in pieces[:REJOIN_PIECES]:
            joined += piece
            candidates.append(joined)
            budget -= len(joined)
        joined, end, width = start.group(), start.end(), 0
        while len(joined) < GROUPED_MAX and (group := _NEXT_GROUP.match(text, end)) is not None:
            piece = group.group(1)
            width = width or len(piece)
            if len(piece) > width:
                break
            joined, end = joined + piece, group.end()
            candidates.append(joined)
            budget -= len(joined)
            if len(piece) < width:  # the last, narrower group
                break
    return "\n".join(candidates)


# A key cut by markup in XML or HTML: a tag, a comment, the markers of a CDATA section or a
# processing instruction between its pieces (`AKIA2OGY<!-- x -->BAH6...`,
# `...<![CDATA[]]>...`). Removed, they glue the text around them, as an XML reader would read the
# element's text; glued neighbours are why only keys of a fixed shape are looked for there.
UNMARKED = "unmarked"
# Removing markup reveals a key only where it glues two of the key's characters: every kind of
# markup begins with "<" (or "]]>") and ends with ">", so a text without a key character right
# before one and right after the other has nothing to glue ("Promise<void> {", "a < b").
_KEY_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_.+/=-")
_AFTER_OPENING = frozenset(string.ascii_letters + "!?/")  # "<a", "</a", "<!--", "<![CDATA[", "<?"


def may_glue_markup(text: str) -> bool:
    """Whether `unmarked(text)` may glue a key together (see above). str.find, not a regex:
    re looks at every character of a long text for the few "<" in it."""
    return ((_follows_key(text, "<", _AFTER_OPENING) or _follows_key(text, "]]>", None))
            and _precedes_key(text, ">"))


def _follows_key(text: str, mark: str, then: frozenset[str] | None) -> bool:
    """Whether `mark` stands right after a key character somewhere in `text` (and, with
    `then`, right before one of those characters)."""
    return any(at and text[at - 1] in _KEY_CHARACTERS
               and (then is None or text[at + 1:at + 2] in then)
               for at in _find_all(text, mark))


def _precedes_key(text: str, mark: str) -> bool:
    """Whether `mark` stands right before a key character somewhere in `text`."""
    return any(text[at + 1:at + 2] in _KEY_CHARACTERS for at in _find_all(text, mark))


# A tag ends at its ">" within TAG_MAX characters; "[^<>]" stops at the next "<", so each
# character is looked at a bounded number of times, however the text is built.
TAG_MAX = 256
_TAG = re.compile(rf"</?[A-Za-z][^<>]{{0,{TAG_MAX}}}>|<\?[^<>]{{0,{TAG_MAX}}}\?>")


def unmarked(text: str) -> str:
    """`text` without XML/HTML comments, CDATA markers, processing instructions and tags."""
    if "<!--" in text:
        text = _without_comments(text)
    if "<![CDATA[" in text or "]]>" in text:
        text = text.replace("<![CDATA[", "").replace("]]>", "")
    return _TAG.sub("", text)


def _without_comments(text: str) -> str:
    """`text` without `<!-- ... -->` comments, found with str.find: a regex looking for the
    end of every opening would scan the rest of the text each time."""
    kept: list[str] = []
    position = 0
    while (start := text.find("<!--", position)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        kept.append(text[position:start])
        position = end + 3
    kept.append(text[position:])
    return "".join(kept)


# A key of a fixed shape enciphered by a shift: a Caesar cipher (every ASCII letter moved n
# places, n = 1 to 25 but 13, which is rot13, a rewrite of its own; digits and signs kept),
# every printable ASCII character's code moved by 1 to 3 either way (`chr(ord(c) + 1)`),
# ROT47 or Atbash; and a key with every character doubled (`AAKKIIAA...`). Each is undone
# only where a key's start appears so enciphered (KEY_STARTS, followed by KEY_FOLLOW
# characters for a shift): a hyperscan pass for those picks the texts, and the rewrite is
# SHIFT_WINDOW characters from each such start with the shift undone, or the doubled runs that
# start there, halved. Fixed shapes only.
UNSHIFTED = "unshifted"
UNDOUBLED = "undoubled"
LETTER_SHIFTS = tuple(n for n in range(1, 26) if n != 13)
CODE_SHIFTS = (-3, -2, -1, 1, 2, 3)
KEY_FOLLOW = string.ascii_letters + string.digits + "_-"  # what follows a key's start
KEY_FOLLOW_MIN = 8  # characters after the start that the gate wants: every key has more
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


def _letter_shift(n: int) -> dict[int, int]:
    upper, lower = string.ascii_uppercase, string.ascii_lowercase
    return str.maketrans(upper + lower, upper[n:] + upper[:n] + lower[n:] + lower[:n])


def _code_shift(k: int) -> dict[int, int]:
    return str.maketrans(_PRINTABLE, "".join(chr(ord(c) + k) for c in _PRINTABLE))


def _inverse(table: dict[int, int]) -> dict[int, int]:
    return {value: key for key, value in table.items()}


# Two more substitutions of the same kind: ROT47 (printable ASCII rotated by 47, its own
# inverse) and Atbash (the alphabet reversed, A and Z swapped).
_ROT47 = str.maketrans(_PRINTABLE, _PRINTABLE[47:] + _PRINTABLE[:47])
_ATBASH = str.maketrans(string.ascii_uppercase + string.ascii_lowercase,
                        string.ascii_uppercase[::-1] + string.ascii_lowercase[::-1])


class Shift(NamedTuple):
    table: dict[int, int]  # what the shift does
    starts: tuple[str, ...]  # KEY_STARTS shifted
    undo: dict[int, int]  # what undoes it
    follow: frozenset[str]  # KEY_FOLLOW shifted: the characters of a key, enciphered


SHIFTS: tuple[Shift, ...] = tuple(
    Shift(table, tuple(start.translate(table) for start in KEY_STARTS), _inverse(table),
          frozenset(KEY_FOLLOW.translate(table)))
    for table in (*map(_letter_shift, LETTER_SHIFTS), *map(_code_shift, CODE_SHIFTS), _ROT47,
                  _ATBASH))
DOUBLED_STARTS = tuple("".join(char * 2 for char in start) for start in KEY_STARTS)


def shifted_start_patterns() -> list[bytes]:
    """Hyperscan patterns for the gate of `unshifted`: each key start shifted, then
    KEY_FOLLOW_MIN characters of KEY_FOLLOW shifted alike."""
    patterns = []
    for shift in SHIFTS:
        follow, starts = "".join(sorted(shift.follow)), shift.starts
        cls = "".join(f"\\x{ord(char):02x}" for char in follow)
        patterns += [f"{re.escape(start)}[{cls}]{{{KEY_FOLLOW_MIN}}}".encode()
                     for start in starts]
    return patterns


SHIFT_WINDOW = 256  # characters read from an enciphered key start: longer than the keys


def unshifted(text: str) -> str:
    """From each key start enciphered by a shift where a key can start (not right after a
    character of a key, enciphered alike: a key's boundary) and followed by KEY_FOLLOW_MIN
    characters of a key (as the gate wants), the next SHIFT_WINDOW characters with that shift
    undone, one a line; empty when there is none. Raises RewriteLimitExceeded past the budget
    (see REJOIN_BUDGET_FACTOR)."""
    windows: list[str] = []
    budget = _rewrite_budget(text)
    for shift, at in _shifted_starts(text):
        # Inside a word, a window would start a "key" the plain text does not: the JSON
        # escapes of a word list (`del\n...`) shifted read `gho_q...`.
        if at and text[at - 1] in shift.follow:
            continue
        window = text[at:at + SHIFT_WINDOW]
        budget -= len(window)
        if budget < 0:
            raise RewriteLimitExceeded("unshifted windows exceed their budget")
        windows.append(window.translate(shift.undo))
    return "\n".join(windows)


# (shift, start) of each of shifted_start_patterns, in order: a pattern's id is its index
_SHIFTED_STARTS = tuple((shift, start) for shift in SHIFTS for start in shift.starts)


def _shifted_starts(text: str) -> Iterator[tuple[Shift, int]]:
    """(shift, where in `text`) of every shifted key start followed by KEY_FOLLOW_MIN
    characters of a key, by shift, then start, then place. One hyperscan pass: looking for
    each of the 800 starts with str.find was 800 passes over the text, seconds on a megabyte
    of random tokens. Without hyperscan, those passes."""
    database = shifted_starts_database()
    if database is None:
        for shift in SHIFTS:
            for start in shift.starts:
                for at in _find_all(text, start):
                    follow = text[at + len(start):at + len(start) + KEY_FOLLOW_MIN]
                    if len(follow) == KEY_FOLLOW_MIN and all(c in shift.follow for c in follow):
                        yield shift, at
        return
    hits: list[tuple[int, int]] = []  # (pattern, byte offset of the start)

    def on_match(pattern: int, start: int, end: int, flags: int, context: object) -> None:
        # every pattern is ASCII of a fixed length: its start is its end less that length
        hits.append((pattern, end - len(_SHIFTED_STARTS[pattern][1]) - KEY_FOLLOW_MIN))

    database.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=on_match)
    hits.sort()
    offsets = sorted(offset for _, offset in hits)
    by_byte = dict(zip(offsets, character_offsets(text, offsets), strict=True))
    for pattern, offset in hits:
        yield _SHIFTED_STARTS[pattern][0], by_byte[offset]


@cache
def shifted_starts_database() -> hyperscan.Database | None:
    """shifted_start_patterns compiled, ids by index; None without hyperscan. The scanner's
    gate for unshifted too."""
    return block_database(shifted_start_patterns())


def undoubled(text: str) -> str:
    """Every run of doubled characters that starts like a doubled key, halved, one a line;
    empty when there is none."""
    runs: list[str] = []
    for doubled in DOUBLED_STARTS:
        end = 0
        for at in _find_all(text, doubled):
            if at < end:  # inside the run just halved
                continue
            end = at
            while end + 1 < len(text) and text[end] == text[end + 1]:
                end += 2
            runs.append(text[at:end:2])
    return "\n".join(runs)


UNSPACED = "unspaced"
UNDASHED = "undashed"
UNSEPARATED = "unseparated"
# The rewrites that remove group separators, and the bytes each removes (for bytes.translate).
UNGROUPED = MappingProxyType({UNSPACED: b" \t", UNDASHED: b"-",
                              UNSEPARATED: SEPARATORS.encode("ascii")})
# Looked for in unspaced, undashed and unseparated text: detectors of a fixed prefix or shape,
# which words glued together do not make. Those that need a keyword before the value, or a URL's
# `user:password@`, would (`visit https://a.example and mail me: x@y` loses its spaces into a
# URL with a password).
UNSPACED_DETECTORS = frozenset({
    "aws_access_key", "anthropic_api_key", "openai_api_key", "google_api_key", "github_token",
    "github_fine_grained_pat", "gitlab_token", "npm_token", "pypi_token", "slack_token",
    "slack_webhook", "stripe_secret_key", "sendgrid_api_key", "jwt",
})

# A key whose case was changed: swapcase undoes `key.swapcase()` exactly, and makes a key of one
# case lower-cased or upper-cased (an AWS key id, `key.lower()`) the key again. What changes
# with case is a key's shape (a prefix, an alphabet): weak-shaped detectors (WEAK_SHAPE_DETECTORS)
# are not looked for there (a random value is random in any case, and is found plain), and
# they would read `ARN:AWS:...` or `%S` templates as values. Others are reported when the value
# does not read as words: words in one case are a fixed-shape key in the other
# (`asiapacificsoutheast`).
SWAPCASE = "swapcase"

# An e-mail address written so a reader still gets it and a pattern does not: `jane [at]
# example [dot] org`, `jane(at)example(dot)org`, defanged `jane[@]example[.]org`, braces or
# angle brackets, any case. The
# rewrite puts "@" and "." back; a hyperscan pass for the bracketed "at" picks the texts. It is
# the one rewrite where personal data (e-mail only) is looked for: a customer list so written
# is a customer list. Bare words (`jane at example dot org`) are not undone: prose is full of
# "at" and "dot".
UNOBFUSCATED = "unobfuscated"
OBFUSCATED_AT = rb"[\[({<]\s{0,2}(?:at|@)\s{0,2}[\])}>]"  # the gate's pattern, caseless
_AT = re.compile(r"\s{0,2}[\[({<]\s{0,2}(?:at|@)\s{0,2}[\])}>]\s{0,2}", re.IGNORECASE)
_DOT = re.compile(r"\s{0,2}[\[({<]\s{0,2}(?:dot|\.)\s{0,2}[\])}>]\s{0,2}", re.IGNORECASE)


def unobfuscated(text: str) -> str:
    """`text` with bracketed "at" and "dot" read as "@" and "."."""
    return _DOT.sub(".", _AT.sub("@", text))


TRANSFORMS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {"reversed": reversed_text, "rot13": rot13, SWAPCASE: swapcase, UNSPACED: unspaced,
     UNDASHED: undashed, UNSEPARATED: unseparated, REJOINED: rejoined, UNMARKED: unmarked,
     UNSHIFTED: unshifted, UNDOUBLED: undoubled, UNOBFUSCATED: unobfuscated}
)


# Secret detectors with a weak shape: a short prefix (`AP`, `AKC`) or none, only a context
# (`user:password@`, `Basic `, a key word). Reversed or rot13'd text makes them out of plain
# words: rot13 turns the placeholder `http://user:password@host` into the password `cnffjbeq`,
# and reverses or rot13s an LDAP attribute name into `AP...` letters. In those two rewrites they
# are reported only when the value, spelled as it was sent, is not itself words (a key rot13'd
# is random either way). Detectors of a long fixed prefix need no such check.
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]+={0,2}")
WEAK_SHAPE_DETECTORS = frozenset({
    "artifactory_token", "url_password", "basic_auth_header", "high_entropy_assignment",
    "cloudant_credentials", "ibm_cloud_iam_key", "ibm_cos_hmac_secret", "softlayer_api_key",
    "twilio_key", "telegram_bot_token",
})


def reported_in_rewrite(rewrite: str, detector: Detector, value: str) -> bool:
    """Whether `value`, found by `detector` in a text rewritten by `rewrite`, is reported."""
    if rewrite == UNOBFUSCATED:
        return detector.id == "email"
    if detector.kind is not Kind.SECRET:
        return False
    if rewrite in UNGROUPED or rewrite in (REJOINED, UNMARKED, UNSHIFTED, UNDOUBLED):
        return detector.id in UNSPACED_DETECTORS
    if rewrite == SWAPCASE:
        return detector.id not in WEAK_SHAPE_DETECTORS and not reads_as_words(value)
    # the others (reversed, rot13) are their own inverse: rewriting the value spells it as sent
    sent = TRANSFORMS[rewrite](value)
    return detector.id not in WEAK_SHAPE_DETECTORS or not (
        reads_as_words(sent) or _is_base64_of_text(sent))


def _is_base64_of_text(value: str) -> bool:
    """A line of base64 whose bytes are text: a wrapped file's line, read under rot13, starts
    with Artifactory's `AP` one time in a few hundred (`NC0w...`, a CSV's `4-0` of `2024-0`:
    honest round 3 found 9 of 10 such CSVs refused). Its text is peeled and scanned as itself;
    a key rot13'd is random bytes when read as base64."""
    if len(value) < 16 or not _BASE64_TEXT.fullmatch(value):
        return False
    try:
        raw = base64.b64decode(value[: len(value) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return is_text(raw.decode("utf-8", "replace"))
