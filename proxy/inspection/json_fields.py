"""The fields of a JSON (or NDJSON) body: every string, key, long number, byte array and join,
at its JSON path. See body_fields.py for the locations and what joins catch.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from proxy.inspection.detectors import CARD_KEY_WORDS
from proxy.inspection.fields import (
    JOIN_PART_MAX,
    JOIN_PART_MIN,
    MIN_FIELD_CHARS,
    NUMBER_DIGITS,
    Field,
    is_plain_name,
    joins,
)
from proxy.inspection.textual import bytes_as_text

BYTE_ARRAY_MIN = 8  # a JSON array of this many integers 0..255 is also read as bytes
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class Members(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicate keys kept."""


def json_documents(text: str) -> list[tuple[str, Any]] | None:
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
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=Members, parse_float=Decimal)


def _parse_json(text: str) -> Any:
    """The parsed document with objects as Members, or _INVALID (as json.loads would)."""
    if text.startswith("\ufeff"):  # json.loads refuses a BOM ("decode using utf-8-sig")
        return _INVALID
    try:
        return _JSON_DECODER.decode(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return _INVALID


def json_fields(documents: list[tuple[str, Any]], raw: str) -> list[Field]:
    """Every string, key, long integer and join in the parsed documents of `raw`."""
    walk = _JsonWalk(surrogates=bool(_SURROGATE_ESCAPE.search(raw)))  # one for all NDJSON lines
    fields: list[Field] = []
    for root, document in documents:
        fields += walk.fields(document, root)
    return fields


class _JsonWalk:
    """A walk over the parsed documents of one body, without recursion so that deep nesting
    cannot exhaust the stack. Name verdicts are cached for this body only (keys can be secrets).

    Written as one loop that appends to a list, with name lookups and the
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
            if kind is not Members and kind is not list:
                self._scalar(out, path, value, context="")  # only a root: containers are stacked
                continue
            if kind is Members:
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
                    elif child_kind is not Members and child_kind is not list \
                            and child_kind is not Decimal:
                        continue  # None, bool, NaN and infinities
                    shown = plain.get(key)
                    if shown is None:
                        shown = plain[key] = is_plain_name(key)
                    child_path = f"{path}.{key}" if shown else f"{path}.#{index}"
                    if child_kind is str:
                        kids.append(new(Field, (child_path, text, True)))
                    elif child_kind is Members or child_kind is list:
                        containers.append((child_path, child))
                    else:
                        self._scalar(kids, child_path, child, context=f"{path}.{key}")
                for text in joins(parts):
                    append(new(Field, (f"{path}.*", text, True)))
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
                    elif child_kind is Members or child_kind is list:
                        containers.append((f"{path}[{index}]", child))
                    elif ((child_kind is int and _NUMBER_LOW <= abs(child) < _NUMBER_HIGH)
                          or child_kind is Decimal):
                        self._scalar(kids, f"{path}[{index}]", child, context=path)
                for text in joins(parts):
                    append(new(Field, (f"{path}[*]", text, True)))
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
            if type(item) is not Members:
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
                out.extend(Field(where, text, peel=False) for text in joins(parts))

    def _scalar(self, out: list[Field], path: str, value: Any, *, context: str) -> None:
        """A string long enough to matter, or an integer (or a float that is a whole number)
        that may be a card number. An integer only under a key that says so (`context`, the
        member's key or the array's path): random 16-digit ids pass Luhn and an issuer prefix
        4 times in 100, and an API's ids and seeds are integers under keys such as `id` and
        `seed`. A whole number written as a float (`4.556737586899855e15`, `...855.0`) under
        any key: no API writes its ids so, and it hides the digits from the whole-body scan.
        (The other personal-data detectors want separators: a bare number is never an SSN or
        a phone number.)"""
        if type(value) is str:
            if len(value) >= MIN_FIELD_CHARS:
                out.append(Field(path, value if self._clean is None else self._clean(value)))
        elif type(value) is int:  # not bool: type() is exact
            digits = str(abs(value))
            if len(digits) in NUMBER_DIGITS and _CARD_CONTEXT.search(context):
                out.append(Field(path, digits))
        elif type(value) is Decimal:
            whole = _integral_digits(value)
            if whole is not None:
                out.append(Field(path, whole))


# Keys under which a number may be a card number (a customer list's `card`, `cc_number`,
# `pan`, `credit_card`, `payment_method.number`, `cards[3]`): the words the payment_card
# detector looks for before a bare number in the whole body
_CARD_CONTEXT = re.compile(CARD_KEY_WORDS)

# Integers of NUMBER_DIGITS digits, told by their size: no str() for the many that are not.
_NUMBER_LOW = 10 ** (NUMBER_DIGITS.start - 1)
_NUMBER_HIGH = 10 ** (NUMBER_DIGITS.stop - 1)
# ".<key#N>" made once for the first keys of an object: formatting the number costs more.
_KEY_AT = tuple(f".<key#{index}>" for index in range(64))


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


def _clean(text: str) -> str:
    """Drop lone surrogates (from "\\udXXX" escapes): they mean nothing but would split a
    secret and cannot be encoded for the scanner."""
    return _SURROGATE.sub("", text) if _SURROGATE.search(text) else text
