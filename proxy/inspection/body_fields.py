"""Split a decoded request body into the texts to scan, each with where it came from.

Locations (never carrying a value; a name is shown only when `is_plain_name` says it looks
like an ordinary identifier, else by its position "#N"):
- "body": the whole body as text, yielded once for every content type;
- "body:$.a.b[0]": a JSON string (escapes undone), or an integer of 9 to 19 digits as text
  (cards, SSNs and phone numbers sent as numbers; a float that is such a whole number too);
  "body:$.a[bytes]": an array of integers 0..255 read as bytes; "body:$.a.<key#2>": the
  third key of $.a, itself scanned because keys can carry secrets; "body:$.a.*" /
  "body:$.a[*]": the short strings of one object or array joined in order, "body:$.a[*].k"
  / "body:$.a.*.k": those of key k over the objects of array $.a, or over the member objects
  of object $.a (see "Split values" below);
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
are its only short strings or are adjacent in order; so is one cut over the same key of the
objects of one array ("body:$.messages[*].content", scanned but not peeled). Pieces spread
over other objects, over the URL and the body, or over several requests are not. Joined fields
can produce false positives of their own (digits of unrelated short strings passing a
checksum): the engine applies only secret detectors there (`engine.is_joined`).
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

from proxy.inspection.archives import zip_members
from proxy.inspection.compression import decompress, sniff_format
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
MAX_COMPRESSED_LAYERS = 3  # compressed data inside compressed data, undone this deep
PLAIN_NAME_MAX = 32  # longer names are shown by position: secrets are long
PLAIN_NAME_SHORT = 8  # names this short are always shown: too short to be a secret
PLAIN_WORD_MAX = 16  # longest camelCase/snake_case word in a shown name (uppercase: 12)
PLAIN_UPPER_WORD_MAX = 12

_JSON_SNIFF = re.compile(r'\s*[\[{"]')
_NAME = re.compile(r"[@$]?[A-Za-z_][A-Za-z0-9_.\-]*")
_DIGITS_INSIDE = re.compile(r"[0-9](?:[A-Za-z]|[0-9]{4})")  # a word goes on after its number
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
    """The texts to scan in a body that has no Content-Encoding left on it, the whole body
    after its fields. DecodeLimitExceeded is raised at once for a body over `limit`, or
    during the iteration for multipart parts over the limits."""
    if len(data) > limit:
        raise DecodeLimitExceeded(f"body exceeds {limit} bytes")
    if not data:
        return iter(())
    mime, params = parse_content_type(content_type)
    text, alternative = _readings(data, params.get("charset"))
    if mime.startswith("multipart/") and params.get("boundary"):
        return _multipart_body_fields(data, params["boundary"], text, alternative, limit)
    # A list, not a generator: the JSON walk makes its hundred fields at once anyway.
    fields = _text_fields(text, alternative, mime)
    for inner in uncompressed_layers(data, limit):
        # Compressed data sent as it is (application/octet-stream, no Content-Encoding): the
        # receiver can decompress it as easily as we can. Its type is unknown: JSON is sniffed.
        fields += _text_fields(*_readings(inner, None), "")
    return iter(fields)


def _text_fields(text: str, alternative: str | None, mime: str) -> list[Field]:
    """The fields of a body that is not multipart, in each of its readings, then the whole."""
    fields = _text_structure(text, mime)
    fields.append(Field("body", text, peel=not fields))
    if alternative is not None:
        fields += _text_structure(alternative, mime)
        fields.append(Field("body", alternative))
    return fields


def uncompressed_layers(data: bytes, limit: int) -> list[bytes]:
    """What `data` decompresses to when it is itself compressed data with a magic number
    (gzip, zlib, zstd, bzip2, xz), and what that decompresses to in turn, up to
    MAX_COMPRESSED_LAYERS: a body or a file upload that no Content-Encoding announces. A zip
    archive at any of these layers gives its members (archives.py: UndecodableBody for one
    that holds a member we cannot read, such as an encrypted one).

    Damage is tolerated (what decodes before it is kept, as a lenient receiver would read it);
    output past `limit` raises DecodeLimitExceeded, so that the caller blocks rather than
    forwards what it could not look into."""
    layers: list[bytes] = []
    for _ in range(MAX_COMPRESSED_LAYERS):
        fmt = sniff_format(data)
        if fmt is None:
            layers += zip_members(data, limit)  # an archive's members, not unwrapped further
            break
        data = decompress(fmt, data, limit=limit, lenient=True)
        if not data:
            break  # the magic number was there by chance
        layers.append(data)
    return layers


def _multipart_body_fields(data: bytes, boundary: str, text: str, alternative: str | None,
                           limit: int) -> Iterator[Field]:
    """body_fields for a multipart body: its parts, read as they are yielded, then the whole."""
    structured = 0
    for field in _multipart_fields(data, boundary, _PartBudget(limit)):
        structured += 1
        yield field
    yield Field("body", text, peel=not structured)
    if alternative is not None:
        yield Field("body", alternative)


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """The lower-cased media type and its parameters ("" when absent)."""
    if not value:
        return "", {}
    if ";" not in value and value.isascii():
        # No parameters: what the email parser says, without it (which, given surrogates
        # from undecodable header bytes, may raise: that case goes through it still).
        return value.strip().lower(), {}
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


def _text_structure(text: str, mime: str) -> list[Field]:
    """The fields of a JSON or form body; nothing for plain text. JSON is tried before the
    declared type: an agent can send JSON as text/plain or as a form."""
    documents = _json_documents(text) if _JSON_SNIFF.match(text) else None
    if documents is not None:
        return _json_fields(documents, text)
    if mime == "application/x-www-form-urlencoded":
        return list(_form_fields(text))
    return []


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


# Decimal keeps a float's digits as sent: 4.556737586899855e15 is a card number. One decoder
# for all bodies: json.loads(text, **hooks) would build a new one (and its scanner) per call.
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_Members, parse_float=Decimal)


def _parse_json(text: str) -> Any:
    """The parsed document with objects as _Members, or _INVALID (as json.loads would)."""
    if text.startswith("\ufeff"):  # json.loads refuses a BOM ("decode using utf-8-sig")
        return _INVALID
    try:
        return _JSON_DECODER.decode(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return _INVALID


def _json_fields(documents: list[tuple[str, Any]], raw: str) -> list[Field]:
    """Every string, key, long integer and join in the parsed documents of `raw`."""
    walk = _JsonWalk(surrogates=bool(_SURROGATE_ESCAPE.search(raw)))  # one for all NDJSON lines
    fields: list[Field] = []
    for root, document in documents:
        fields += walk.fields(document, root)
    return fields


class _JsonWalk:
    """A walk over the parsed documents of one body, without recursion so that deep nesting
    cannot exhaust the stack. Name verdicts are cached for this body only (keys can be secrets).

    Written as one loop that appends to a list, with joined_field, name lookups and the
    common scalars inlined: a body is mostly short strings, and per-node generators, method
    calls and path strings cost more than the scanning of them (about 150 against 60 µs for
    the walk of the bench's 4 KB body; a method per object and per array makes it some 8%
    slower).
    """

    def __init__(self, *, surrogates: bool) -> None:
        self._plain: dict[str, bool] = {}
        # Only a "\udXXX" escape makes a lone surrogate: skip the search when there is none.
        self._clean = _clean if surrogates else None

    def fields(self, document: Any, root: str) -> list[Field]:  # noqa: PLR0915 - see above
        """The fields under `document`, parents before children: for each container its
        long keys, its join, its byte reading, its values in order, then its containers'."""
        out: list[Field] = []
        append = out.append
        new = tuple.__new__  # Field(...) runs a Python __new__: twice the cost, per field
        clean = self._clean
        plain = self._plain
        stack: list[tuple[str, Any]] = [(root, document)]
        pop = stack.pop
        # Made once and emptied after each container, not made for each one: fewer allocations.
        parts: list[str] = []  # the join's pieces
        kids: list[Field] = []  # the values' fields, which follow the keys and the join
        containers: list[tuple[str, Any]] = []
        while stack:
            path, value = pop()
            kind = type(value)
            if kind is not _Members and kind is not list:
                self._scalar(out, path, value)  # only a root: containers alone are stacked
                continue
            if kind is _Members:
                for index, (key, child) in enumerate(value):
                    if len(key) >= MIN_FIELD_CHARS:
                        text = key if clean is None else clean(key)
                        where = path + _KEY_AT[index] if index < len(_KEY_AT) \
                            else f"{path}.<key#{index}>"
                        append(new(Field, (where, text, True)))
                    child_kind = type(child)
                    # What yields nothing is passed over before its path is built: most values.
                    if child_kind is str:
                        text = child if clean is None else clean(child)
                        if JOIN_PART_MIN <= len(text) <= JOIN_PART_MAX:
                            parts.append(text)
                        if len(child) < MIN_FIELD_CHARS:
                            continue
                    elif child_kind is int:
                        if not _NUMBER_LOW <= abs(child) < _NUMBER_HIGH:
                            continue
                    elif child_kind is not _Members and child_kind is not list \
                            and child_kind is not Decimal:
                        continue  # None, bool, NaN and infinities
                    shown = plain.get(key)
                    if shown is None:
                        shown = plain[key] = is_plain_name(key)
                    child_path = f"{path}.{key}" if shown else f"{path}.#{index}"
                    if child_kind is str:
                        kids.append(new(Field, (child_path, text, True)))
                    elif child_kind is _Members or child_kind is list:
                        containers.append((child_path, child))
                    else:
                        self._scalar(kids, child_path, child)
                if len(parts) >= 2:  # joined_field, inlined: two pieces or more, cut to a max
                    append(new(Field, (f"{path}.*", "".join(parts)[:JOIN_MAX_CHARS], True)))
                if len(containers) >= 2:  # member objects: their keys joined across them
                    self._column_joins(out, path, [child for _, child in containers],
                                       siblings=".*")
            else:
                for index, child in enumerate(value):
                    child_kind = type(child)
                    if child_kind is str:
                        text = child if clean is None else clean(child)
                        if JOIN_PART_MIN <= len(text) <= JOIN_PART_MAX:
                            parts.append(text)
                        if len(child) >= MIN_FIELD_CHARS:
                            kids.append(new(Field, (f"{path}[{index}]", text, True)))
                    elif child_kind is _Members or child_kind is list:
                        containers.append((f"{path}[{index}]", child))
                    elif ((child_kind is int and _NUMBER_LOW <= abs(child) < _NUMBER_HIGH)
                          or child_kind is Decimal):
                        self._scalar(kids, f"{path}[{index}]", child)
                if len(parts) >= 2:  # joined_field, inlined: two pieces or more, cut to a max
                    append(new(Field, (f"{path}[*]", "".join(parts)[:JOIN_MAX_CHARS], True)))
                if len(value) >= BYTE_ARRAY_MIN:
                    _byte_array(out, f"{path}[bytes]", value)
                self._column_joins(out, path, value)
            if parts:
                parts.clear()
            if kids:
                out += kids
                kids.clear()
            if containers:
                stack += reversed(containers)
                containers.clear()
        return out

    def _column_joins(self, out: list[Field], path: str, items: list[Any], *,
                      siblings: str = "[*]") -> None:
        """For an array of objects (or an object's member objects, `siblings` ".*"), each
        key's short strings joined across the objects, in order, at "path[*].key" (or
        "path.*.key"): a secret cut over two chat messages' contents, or over the same field
        of two records. Scanned, not peeled (a join per key of every array of objects would
        be a lot to peel), for secrets only (engine.is_joined)."""
        columns: dict[str, list[str]] = {}
        objects = 0
        for item in items:
            if type(item) is not _Members:
                continue
            objects += 1
            for key, child in item:
                if type(child) is str and JOIN_PART_MIN <= len(child) <= JOIN_PART_MAX:
                    text = child if self._clean is None else self._clean(child)
                    columns.setdefault(key, []).append(text)
        if objects < 2:
            return
        for number, (key, parts) in enumerate(columns.items()):
            if len(parts) >= 2:
                shown = self._plain.get(key)
                if shown is None:
                    shown = self._plain[key] = is_plain_name(key)
                where = f"{path}{siblings}.{key}" if shown else f"{path}{siblings}.#{number}"
                out.append(Field(where, "".join(parts)[:JOIN_MAX_CHARS], peel=False))

    def _scalar(self, out: list[Field], path: str, value: Any) -> None:
        """A string long enough to matter, or an integer (or a float that is a whole number)
        that may be a card, SSN or phone."""
        if type(value) is str:
            if len(value) >= MIN_FIELD_CHARS:
                out.append(Field(path, value if self._clean is None else self._clean(value)))
        elif type(value) is int:  # not bool: type() is exact
            digits = str(abs(value))
            if len(digits) in NUMBER_DIGITS:
                out.append(Field(path, digits))
        elif type(value) is Decimal:
            whole = _integral_digits(value)
            if whole is not None:
                out.append(Field(path, whole))


# Integers of NUMBER_DIGITS digits, told by their size: no str() for the many that are not.
_NUMBER_LOW = 10 ** (NUMBER_DIGITS.start - 1)
_NUMBER_HIGH = 10 ** (NUMBER_DIGITS.stop - 1)
# ".<key#N>" made once for the first keys of an object: formatting the number costs more.
_KEY_AT = tuple(f".<key#{index}>" for index in range(64))


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
    """Parts left to read in one body, over all nesting levels, and the body's size limit
    (for what a compressed part decompresses to)."""

    def __init__(self, limit: int) -> None:
        self.left = MULTIPART_MAX_PARTS
        self.limit = limit

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
        for inner in uncompressed_layers(content, budget.limit):  # a .gz file uploaded
            for reading in filter(None, _readings(inner, None)):
                yield Field(label, reading)


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
