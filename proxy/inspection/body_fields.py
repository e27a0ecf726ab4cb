"""Split a decoded request body into the texts to scan, each with where it came from.

This module picks the reader; the readers are json_fields.py and multipart_fields.py (forms are
here), readings.py turns bytes into text, and fields.py holds the Field type, the names shown
in locations and the joins they all use.

Locations (never carrying a value; a name is shown only when `is_plain_name` says it looks
like an ordinary identifier, else by its position "#N"):
- "body": the whole body as text, yielded once for every content type;
- "body:$.a.b[0]": a JSON string (escapes undone), or an integer of 9 to 19 digits as text
  under a key that names a card (a float that is such a whole number under any key);
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

import re
from collections.abc import Iterator
from urllib.parse import parse_qsl

from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.fields import MIN_FIELD_CHARS, Field, joined_field, name_segment
from proxy.inspection.json_fields import json_documents, json_fields
from proxy.inspection.multipart_fields import PartBudget, multipart_fields, outside_parts
from proxy.inspection.readings import (
    every_reading,
    parse_content_type,
    readings,
    uncompressed_layers,
)

_JSON_SNIFF = re.compile(r'\s*[\[{"]')


def body_fields(data: bytes, content_type: str | None, *, limit: int) -> Iterator[Field]:
    """The texts to scan in a body that has no Content-Encoding left on it, the whole body
    after its fields. DecodeLimitExceeded is raised at once for a body over `limit`, or
    during the iteration for multipart parts over the limits."""
    if len(data) > limit:
        raise DecodeLimitExceeded(f"body exceeds {limit} bytes")
    if not data:
        return iter(())
    mime, params = parse_content_type(content_type)
    text, alternative = readings(data, params.get("charset"))
    if mime.startswith("multipart/") and params.get("boundary"):
        return _multipart_body_fields(data, params["boundary"], text, alternative, limit)
    # A list, not a generator: the JSON walk makes its hundred fields at once anyway.
    fields = _text_fields(text, alternative, mime)
    for inner in uncompressed_layers(data, limit):
        # Compressed data sent as it is (application/octet-stream, no Content-Encoding): the
        # receiver can decompress it as easily as we can. Its type is unknown: JSON is sniffed.
        fields += _text_fields(*readings(inner, None), "")
    return iter(fields)


def _text_fields(text: str, alternative: str | None, mime: str) -> list[Field]:
    """The fields of a body that is not multipart, in each of its readings, then the whole."""
    fields = _text_structure(text, mime)
    fields.append(Field("body", text, peel=not fields))
    if alternative is not None:
        fields += _text_structure(alternative, mime)
        fields.append(Field("body", alternative))
    return fields


def _multipart_body_fields(data: bytes, boundary: str, text: str, alternative: str | None,
                           limit: int) -> Iterator[Field]:
    """body_fields for a multipart body: its parts, read as they are yielded, then the whole."""
    structured = 0
    for field in multipart_fields(data, boundary, PartBudget(limit)):
        structured += 1
        yield field
    for where, outside in outside_parts(data, boundary):  # peeled: the whole body is not
        for reading in every_reading(outside, limit):
            yield Field(f"multipart:#{where}", reading)
    yield Field("body", text, peel=not structured)
    if alternative is not None:
        yield Field("body", alternative)


def _text_structure(text: str, mime: str) -> list[Field]:
    """The fields of a JSON or form body; nothing for plain text. JSON is tried before the
    declared type: an agent can send JSON as text/plain or as a form."""
    documents = json_documents(text) if _JSON_SNIFF.match(text) else None
    if documents is not None:
        return json_fields(documents, text)
    if mime == "application/x-www-form-urlencoded":
        return list(_form_fields(text))
    return []


def _form_fields(text: str) -> Iterator[Field]:
    """Every urlencoded value (and long name), percent-decoding and "+" undone."""
    pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    for index, (name, value) in enumerate(pairs):
        if len(name) >= MIN_FIELD_CHARS:
            yield Field(f"form:<key#{index}>", name)
        if len(value) >= MIN_FIELD_CHARS:
            yield Field(f"form:{name_segment(name, index)}", value)
    yield from joined_field("form:*", [value for _, value in pairs])
