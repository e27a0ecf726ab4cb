"""Split a decoded request body into the texts to scan, each with where it came from.

Locations (never carrying a value; a name is shown only when `is_plain_name` says it looks
like an ordinary identifier, else by its position "#N"):
- "body": the whole body as text, yielded once for every content type;
- "body:$.a.b[0]": a JSON string (escapes undone), or an integer of 9 to 19 digits as text
  (cards, SSNs and phone numbers sent as numbers; a float that is such a whole number too);
  "body:$.a[bytes]": an array of integers 0..255 read as bytes; "body:$.a.<key#2>": the
  third key of $.a, itself scanned because keys can carry secrets; "body:$.a.*" /
  "body:$.a[*]": the short strings of one object or array joined in order (see "Split
  values" below);
- "body:line3:$.a": the same inside the third line of NDJSON;
- "form:name" per urlencoded value (percent-encoding undone), "form:<key#N>", "form:*";
- "multipart:name" per part (file uploads too, binary ones read as UTF-8 with replacement);
  "multipart:outer/inner" for a part of a multipart part.

A body (or part) whose charset, BOM or sniffed encoding is not UTF-8 is yielded in that reading
and in its UTF-8 reading (invalid bytes replaced): a receiver may ignore the charset.

JSON is recognised by its first character whatever the content type says. Work: the whole
body is scanned as it is, and each field once more in its decoded form (about twice the body
for structured bodies, once for text). `Field.peel` is False for the whole-body copy of a
structured body: every string in it is also yielded on its own, and peeling those instead
decodes base64 that JSON escaped (`\\/`) and avoids peeling the same runs twice.

Split values: a secret cut into pieces in one JSON object or array (or one form) is caught by
the joined field when each piece is JOIN_PART_MIN to JOIN_PART_MAX characters and the pieces
are its only short strings or are adjacent in order; pieces spread over different objects,
over the URL and the body, or over several requests are not. Joined fields can produce false
positives of their own (digits of unrelated short strings passing a checksum): the engine
applies only secret detectors there (`engine.is_joined`).
"""

from __future__ import annotations

import binascii
import codecs
import json
import quopri
import re
from collections.abc import Iterator
from decimal import Decimal
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.textual import bytes_as_text, sniff_wide_codec

MIN_FIELD_CHARS = 6  # a shorter string holds no detectable secret or PII on its own ("a@b.io")
NUMBER_DIGITS = range(9, 20)  # integers yielded as text: SSN (9) to the longest card (19)
JOIN_PART_MIN = 3  # pieces shorter than this are left out of joins: "1", "2"... make card-like
JOIN_PART_MAX = 64  # longer strings are scanned on their own
JOIN_MAX_CHARS = 1024  # one joined field at most
BYTE_ARRAY_MIN = 8  # a JSON array of this many integers 0..255 is also read as bytes
MULTIPART_MAX_DEPTH = 4  # multipart inside multipart: deeper is refused (DecodeLimitExceeded)
MULTIPART_MAX_PARTS = 10_000  # parts in one body over all levels: more is refused
PLAIN_NAME_MAX = 32  # longer names are shown by position: secrets are long
PLAIN_NAME_SHORT = 8  # names this short are always shown: too short to be a secret
PLAIN_WORD_MAX = 16  # longest camelCase/snake_case word in a shown name (uppercase: 12)
PLAIN_UPPER_WORD_MAX = 12

_JSON_SNIFF = re.compile(r'\s*[\[{"]')
_NAME = re.compile(r"[@$]?[A-Za-z_][A-Za-z0-9_.\-]*")
_NAME_PART = re.compile(r"([A-Za-z]*)[0-9]{0,4}")  # letters, then at most a short number
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_BASE64_BLOCK = re.compile(rb"[^=]+=*|=+")
_UTF8_NAMES = {"utf-8", "utf_8", "utf8", "us-ascii", "ascii"}


class Field(NamedTuple):
    """A text to scan and where it sits in the body; `peel` says whether to decode layers.
    (A tuple, not a frozen dataclass: a body makes a hundred of these.)"""

    location: str
    text: str
    peel: bool = True


class _Members(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicate keys kept."""


def body_fields(data: bytes, content_type: str | None, *, limit: int) -> Iterator[Field]:
    """Yield the texts to scan in a body that has no Content-Encoding left on it."""
    if len(data) > limit:
        raise DecodeLimitExceeded(f"body exceeds {limit} bytes")
    if not data:
        return
    mime, params = parse_content_type(content_type)
    text, alternative = _readings(data, params.get("charset"))
    structured = 0
    if mime.startswith("multipart/") and params.get("boundary"):
        for field in _multipart_fields(data, params["boundary"], _PartBudget()):
            structured += 1
            yield field
    else:
        for field in _text_structure(text, mime):
            structured += 1
            yield field
    yield Field("body", text, peel=not structured)
    if alternative is not None:
        if not mime.startswith("multipart/"):
            yield from _text_structure(alternative, mime)
        yield Field("body", alternative)


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """The lower-cased media type and its parameters ("" when absent)."""
    if not value:
        return "", {}
    message = Message()
    message["content-type"] = value.replace("\r", " ").replace("\n", " ")
    params = {key.lower(): _param(val) for key, val in message.get_params(failobj=[])[1:]}
    mime = value.split(";", 1)[0].strip().lower()
    return mime, params


def _param(value: str | tuple[str | None, str | None, str]) -> str:
    """A header parameter, RFC 2231 encoded or not, as one string."""
    return collapse_rfc2231_value(value) if isinstance(value, tuple) else value


def is_plain_name(name: str) -> bool:
    """Whether a key or field name looks like an identifier, safe to show in a location.

    Long names, digits inside a word, long letter runs and many one-letter words are what
    random tokens look like: such names could be secrets and are shown by position instead.
    """
    if not _NAME.fullmatch(name) or len(name) > PLAIN_NAME_MAX:
        return False
    if len(name) <= PLAIN_NAME_SHORT:
        return True
    words: list[str] = []
    for part in re.split(r"[_.\-@$]+", name):
        letters = _NAME_PART.fullmatch(part)
        if letters is None:
            return False
        words += _WORD.findall(letters.group(1))
    if any(len(w) > (PLAIN_UPPER_WORD_MAX if w.isupper() else PLAIN_WORD_MAX) for w in words):
        return False
    return bool(words) and sum(map(len, words)) >= 3 * len(words)


def name_segment(name: str, index: int) -> str:
    """A name as shown in a location: itself when plain, else "#index"."""
    return name if is_plain_name(name) else f"#{index}"


def _readings(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """The body as text per its charset (or BOM, or sniffed UTF-16/UTF-32), and its UTF-8
    reading (invalid bytes replaced) too when that differs: a receiver may ignore the declared
    charset, and one invalid byte must not hide the ASCII text around it."""
    codec = _codec(data, charset)
    if codec is None:
        return data.decode("utf-8", errors="replace"), None
    text = data.decode(codec, errors="replace")
    utf8 = data.decode("utf-8", errors="replace")
    return text, (utf8 if utf8 != text else None)


def _codec(data: bytes, charset: str | None) -> str | None:
    """The codec to read the body with, when it is not plain UTF-8."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return name
    if charset and charset.strip().lower() not in _UTF8_NAMES:
        try:
            b"a".decode(charset.strip(), errors="replace")  # refuses "base64" and the like
        except LookupError:
            return None
        return charset.strip()
    return sniff_wide_codec(data)


def _text_structure(text: str, mime: str) -> Iterator[Field]:
    """The fields of a JSON or form body; nothing for plain text. JSON is tried before the
    declared type: an agent can send JSON as text/plain or as a form."""
    documents = _json_documents(text) if _JSON_SNIFF.match(text) else None
    if documents is not None:
        for root, document in documents:
            yield from _json_fields(document, root, text)
    elif mime == "application/x-www-form-urlencoded":
        yield from _form_fields(text)


# --- JSON --------------------------------------------------------------------------------


def _json_documents(text: str) -> list[tuple[str, Any]] | None:
    """(location root, document) for a JSON text, or for each line of NDJSON; else None."""
    document = _parse_json(text)
    if document is not _INVALID:
        return [("body:$", document)]
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    documents = [(f"body:line{n}:$", _parse_json(line)) for n, line in lines]
    if len(documents) < 2 or any(doc is _INVALID for _, doc in documents):
        return None
    return documents


_INVALID = object()


def _parse_json(text: str) -> Any:
    """The parsed document with objects as _Members, or _INVALID."""
    try:
        # Decimal keeps a float's digits as sent: 4.556737586899855e15 is a card number.
        return json.loads(text, object_pairs_hook=_Members, parse_float=Decimal)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return _INVALID


def _json_fields(document: Any, root: str, raw: str) -> Iterator[Field]:
    """Every string, key, long integer and join in a parsed document."""
    return iter(_JsonWalk(surrogates=bool(_SURROGATE_ESCAPE.search(raw))).fields(document, root))


class _JsonWalk:
    """One walk over a parsed document, without recursion so that deep nesting cannot
    exhaust the stack. Name verdicts are cached for this walk only (keys can be secrets).

    Written as one loop that appends to a list: a body is mostly short strings, and per-node
    generators and method calls cost more than the scanning of them (bench/ measures this).
    """

    def __init__(self, *, surrogates: bool) -> None:
        self._plain: dict[str, bool] = {}
        # Only a "\udXXX" escape makes a lone surrogate: skip the search when there is none.
        self._clean = _clean if surrogates else None

    def fields(self, document: Any, root: str) -> list[Field]:
        """The fields under `document`, parents before children."""
        out: list[Field] = []
        stack: list[tuple[str, Any]] = [(root, document)]
        while stack:
            path, value = stack.pop()
            kind = type(value)
            if kind is _Members:
                children = []
                for index, (key, child) in enumerate(value):
                    if len(key) >= MIN_FIELD_CHARS:
                        out.append(Field(f"{path}.<key#{index}>", self._text(key)))
                    children.append((self._member(path, key, index), child))
                self._join(out, f"{path}.*", [child for _, child in value])
            elif kind is list:
                children = [(f"{path}[{index}]", child) for index, child in enumerate(value)]
                self._join(out, f"{path}[*]", value)
                if len(value) >= BYTE_ARRAY_MIN:
                    _byte_array(out, f"{path}[bytes]", value)
            else:
                self._scalar(out, path, value)
                continue
            containers = []
            for child_path, child in children:
                child_kind = type(child)
                if child_kind is str:  # the common case, inline
                    if len(child) >= MIN_FIELD_CHARS:
                        out.append(Field(child_path, self._text(child)))
                elif child_kind is _Members or child_kind is list:
                    containers.append((child_path, child))
                else:
                    self._scalar(out, child_path, child)
            stack.extend(reversed(containers))
        return out

    def _text(self, text: str) -> str:
        return text if self._clean is None else self._clean(text)

    def _member(self, path: str, key: str, index: int) -> str:
        """The path of an object member: its key when plain, else its position."""
        plain = self._plain.get(key)
        if plain is None:
            plain = self._plain[key] = is_plain_name(key)
        return f"{path}.{key}" if plain else f"{path}.#{index}"

    def _scalar(self, out: list[Field], path: str, value: Any) -> None:
        """A string long enough to matter, or an integer (or a float that is a whole number)
        that may be a card, SSN or phone."""
        if type(value) is str:
            if len(value) >= MIN_FIELD_CHARS:
                out.append(Field(path, self._text(value)))
        elif type(value) is int:  # not bool: type() is exact
            digits = str(abs(value))
            if len(digits) in NUMBER_DIGITS:
                out.append(Field(path, digits))
        elif type(value) is Decimal:
            whole = _integral_digits(value)
            if whole is not None:
                out.append(Field(path, whole))

    def _join(self, out: list[Field], location: str, values: list[Any]) -> None:
        """Short strings among `values` joined in order (see "Split values" above)."""
        parts = [self._text(v) for v in values if type(v) is str]
        out.extend(joined_field(location, parts))


MAX_JOIN_WINDOWS = 64  # pairs and triples of neighbours, at most, per list of values


def joined_neighbours(location: str, values: list[str]) -> Iterator[Field]:
    """Each two and three neighbouring short values joined on their own.

    The join of all values glues a split secret to the values around it (`<id>AKIA...`),
    where detectors that need a boundary no longer see it; a secret split in two or three
    has its own window here. Meant for short lists (a query string): the cost grows with
    the number of values, bounded by MAX_JOIN_WINDOWS.
    """
    parts = [p for p in values if JOIN_PART_MIN <= len(p) <= JOIN_PART_MAX]
    windows = 0
    for size in (2, 3):
        for start in range(len(parts) - size + 1):
            if windows >= MAX_JOIN_WINDOWS:
                return
            windows += 1
            yield Field(location, "".join(parts[start:start + size]))


def _integral_digits(number: Decimal) -> str | None:
    """The digits of a JSON float that is a whole number of NUMBER_DIGITS digits
    ("376542598747175.0", "4.556737586899855e15"), else None. The exponent is checked
    before converting: "1e999999" must not become a million-digit integer."""
    if not number.is_finite() or number.adjusted() + 1 not in NUMBER_DIGITS:
        return None
    if number != number.to_integral_value():
        return None
    return str(abs(int(number)))


def _byte_array(out: list[Field], location: str, values: list[Any]) -> None:
    """An array of integers 0..255 read as the bytes it spells: [65, 75, 73, 65, ...]."""
    if all(type(v) is int and 0 <= v <= 255 for v in values):
        out.append(Field(location, bytes_as_text(bytes(values))))


def joined_field(location: str, values: list[str]) -> Iterator[Field]:
    """The short strings among `values` joined in order, when there are two or more: for a
    secret split over several fields of one object, array, form or query string."""
    parts = [p for p in values if JOIN_PART_MIN <= len(p) <= JOIN_PART_MAX]
    if len(parts) >= 2:
        yield Field(location, "".join(parts)[:JOIN_MAX_CHARS])


def _clean(text: str) -> str:
    """Drop lone surrogates (from "\\udXXX" escapes): they mean nothing but would split a
    secret and cannot be encoded for the scanner."""
    return _SURROGATE.sub("", text) if _SURROGATE.search(text) else text


# --- forms -------------------------------------------------------------------------------


def _form_fields(text: str) -> Iterator[Field]:
    """Every urlencoded value (and long name), percent-decoding and "+" undone."""
    pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    for index, (name, value) in enumerate(pairs):
        if len(name) >= MIN_FIELD_CHARS:
            yield Field(f"form:<key#{index}>", name)
        if len(value) >= MIN_FIELD_CHARS:
            yield Field(f"form:{name_segment(name, index)}", value)
    yield from joined_field("form:*", [value for _, value in pairs])


# --- multipart ---------------------------------------------------------------------------


class _PartBudget:
    """Parts left to read in one body, over all nesting levels."""

    def __init__(self) -> None:
        self.left = MULTIPART_MAX_PARTS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise DecodeLimitExceeded(f"more than {MULTIPART_MAX_PARTS} multipart parts")


def _multipart_fields(data: bytes, boundary: str, budget: _PartBudget, *,
                      prefix: str = "multipart:", depth: int = 1) -> Iterator[Field]:
    """Each part of a multipart body as text (both readings when its charset is not UTF-8),
    named by its field name or file name; a part that is itself multipart is split too."""
    for index, (headers, body) in enumerate(_split_multipart(data, boundary)):
        budget.take()
        disposition = headers.get("content-disposition", "")
        names = _disposition_names(disposition)
        label = prefix + next((n for n in names if is_plain_name(n)), f"#{index}")
        content = _undo_transfer_encoding(body, headers.get("content-transfer-encoding", ""))
        mime, params = parse_content_type(headers.get("content-type"))
        if mime.startswith("multipart/") and params.get("boundary"):
            if depth >= MULTIPART_MAX_DEPTH:
                # Deeper nesting could hide an inner transfer encoding: refuse, not forward.
                raise DecodeLimitExceeded(f"multipart nested deeper than {MULTIPART_MAX_DEPTH}")
            yield from _multipart_fields(content, params["boundary"], budget,
                                         prefix=f"{label}/", depth=depth + 1)
        text, alternative = _readings(content, params.get("charset"))
        if text:
            yield Field(label, text)
        if alternative:
            yield Field(label, alternative)


def _split_multipart(data: bytes, boundary: str) -> Iterator[tuple[dict[str, str], bytes]]:
    """(headers, body) of every part between the delimiters (RFC 2046 section 5.1.1)."""
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    for chunk in data.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            return  # the close delimiter: what follows is the epilogue
        head, body = _split_head(_strip_line_ends(chunk))
        yield _part_headers(head), body


def _strip_line_ends(chunk: bytes) -> bytes:
    """Drop the line end after a delimiter and the one before the next (part of it)."""
    chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
    if chunk.endswith(b"\r\n"):
        return chunk[:-2]
    return chunk.removesuffix(b"\n")


def _split_head(chunk: bytes) -> tuple[bytes, bytes]:
    """A part's header block and body, at the first blank line."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = chunk.partition(separator)
        if found:
            return head, body
    return b"", chunk


def _part_headers(head: bytes) -> dict[str, str]:
    """A part's headers by lower-cased name."""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", errors="replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition_names(disposition: str) -> list[str]:
    """The field name and file name of a Content-Disposition value, those present."""
    message = Message()
    message["content-disposition"] = disposition.replace("\r", " ").replace("\n", " ")
    name = message.get_param("name", header="content-disposition")
    names = [_param(name) if isinstance(name, str | tuple) else None, message.get_filename()]
    return [n for n in names if n]


def _undo_transfer_encoding(body: bytes, encoding: str) -> bytes:
    """Undo a part's Content-Transfer-Encoding (base64, quoted-printable); else as it is."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return _base64_blocks(body)
        if encoding == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return body  # undecodable: scanned as it is, peeling may still find the runs
    return body


def _base64_blocks(body: bytes) -> bytes:
    """Base64 content decoded block by block: `a2b_base64` stops at the first padding, so
    `b64(a)` then `b64(b)` on the next line would show only `a`. A block ends at its padding;
    a block that does not decode is kept as it is, for peeling."""
    compact = re.sub(rb"\s+", b"", body)
    out = []
    for block in _BASE64_BLOCK.findall(compact):
        try:
            out.append(binascii.a2b_base64(block))
        except binascii.Error:
            out.append(block)
    return b"".join(out)
