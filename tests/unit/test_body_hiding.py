"""Bodies that hide a value from the scanner (red-team review 2, findings 3, 4, 5) and joins
that made false positives (finding 8): from body bytes through `body_fields` and the engine.

Values are fakes from the corpus generator; test ids never show them.
"""

from __future__ import annotations

import base64
import json
import random

import pytest

from proxy.inspection.decoders import DecodeLimitExceeded, Field, body_fields
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.scanner import Scanner
from tests.corpus import fakes

RNG = random.Random(20261121)
AWS = fakes.aws_access_key_id(RNG)
CARD = "".join(c for c in fakes.card_number(RNG) if c.isdigit())
LIMIT = 1024 * 1024
SCANNER = Scanner()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def detectors(data: bytes, content_type: str | None) -> set[str]:
    """The detectors that find something in a body, as the proxy would inspect it."""
    texts = [Text(f.location, f.text, f.peel)
             for f in body_fields(data, content_type, limit=LIMIT)]
    inspection = inspect_texts(texts, SCANNER, b"k" * 32, max_depth=3)
    return {finding.detector for finding in inspection.findings}


def fields(data: bytes, content_type: str | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field in body_fields(data, content_type, limit=LIMIT):
        out.setdefault(field.location, []).append(field.text)
    return out


BAD_UTF8 = b"\xff" + f" key {AWS} ".encode()
BOUNDARY = "XyZ"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(headers: str, content: str) -> str:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n{content}\r\n"


def multipart(*parts: str) -> bytes:
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def nested(inner_content: str, inner_encoding: str) -> bytes:
    inner = (f"--in\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: {inner_encoding}"
             f"\r\n\r\n{inner_content}\r\n--in--\r\n")
    return multipart(part('Content-Disposition: form-data; name="a"\r\n'
                          "Content-Type: multipart/mixed; boundary=in", inner))


QP_ALL = "".join(f"={b:02X}" for b in AWS.encode())
QP_SOFT_BREAK = AWS[:8] + "=\r\n" + AWS[8:]

HIDDEN = [
    # F3: a declared charset, or no BOM, must not hide the ASCII text a receiver may read.
    pytest.param(BAD_UTF8, "text/plain; charset=utf-16le", "aws_access_key",
                 id="utf16le-declared-invalid-utf8-byte"),
    pytest.param(BAD_UTF8, "text/plain; charset=cp037", "aws_access_key",
                 id="cp037-declared-invalid-utf8-byte"),
    pytest.param(b"\xff" + json.dumps({"k": AWS}).encode(), "application/json; charset=utf-16le",
                 "aws_access_key", id="json-utf16le-declared-invalid-utf8-byte"),
    pytest.param(b"\xff " + b64("key " + AWS).encode(), "text/plain; charset=utf-16",
                 "aws_access_key", id="base64-behind-invalid-byte-utf16-declared"),
    pytest.param(f"key {AWS}".encode("utf-16-be"), "text/plain", "aws_access_key",
                 id="utf16be-no-bom-undeclared"),
    pytest.param(f"key {AWS}".encode("utf-32-le"), "text/plain", "aws_access_key",
                 id="utf32le-no-bom-undeclared"),
    pytest.param(f"key {AWS}".encode("utf-32-be"), None, "aws_access_key",
                 id="utf32be-no-bom-undeclared"),
    pytest.param(json.dumps({"k": AWS}).encode("utf-32-le"), "application/json",
                 "aws_access_key", id="json-utf32le-no-bom"),
    # F4: multipart parts.
    pytest.param(multipart(part('Content-Disposition: form-data; name="a"\r\n'
                                "Content-Type: text/plain; charset=utf-16le", b64("key " + AWS))),
                 MULTIPART, "aws_access_key", id="multipart-part-utf16le-base64"),
    pytest.param(multipart(part('Content-Disposition: form-data; name="a"\r\n'
                                "Content-Type: text/plain; charset=cp037", b64("key " + AWS))),
                 MULTIPART, "aws_access_key", id="multipart-part-cp037-base64"),
    pytest.param(nested(f"key {QP_ALL}", "quoted-printable"), MULTIPART, "aws_access_key",
                 id="nested-multipart-inner-qp-all-bytes"),
    pytest.param(nested(f"key {QP_SOFT_BREAK}", "quoted-printable"), MULTIPART,
                 "aws_access_key", id="nested-multipart-inner-qp-soft-break"),
    pytest.param(nested(f"{b64('key ' + AWS[:8])}\r\n{b64(AWS[8:])}", "base64"), MULTIPART,
                 "aws_access_key", id="nested-multipart-inner-base64-two-blobs"),
    pytest.param(multipart(part('Content-Disposition: form-data; name="a"\r\n'
                                "Content-Transfer-Encoding: base64",
                                f"{b64(AWS[:8])}\r\n{b64(AWS[8:])}")),
                 MULTIPART, "aws_access_key", id="multipart-base64-two-blobs"),
    pytest.param(multipart(part('Content-Disposition: form-data; name="a"\r\n'
                                "Content-Transfer-Encoding: base64",
                                f"{b64('id ' + AWS[:7])}{b64(AWS[7:])}")),
                 MULTIPART, "aws_access_key", id="multipart-base64-two-blobs-one-line"),
    # F5: numbers.
    pytest.param(json.dumps({"n": float(CARD)}).encode(), "application/json", "payment_card",
                 id="card-as-json-float-repr"),
    pytest.param(('{"n": ' + CARD + '.0}').encode(), "application/json", "payment_card",
                 id="card-as-json-float-dot-zero"),
    pytest.param(('{"n": ' + CARD + 'e0}').encode(), "application/json", "payment_card",
                 id="card-as-json-float-e0"),
    pytest.param(f'{{"n": {CARD[0]}.{CARD[1:]}e{len(CARD) - 1}}}'.encode(),
                 "application/json", "payment_card", id="card-as-json-float-e-notation"),
    pytest.param(json.dumps({"b": list(AWS.encode())}).encode(), "application/json",
                 "aws_access_key", id="key-as-decimal-byte-array"),
    pytest.param(json.dumps({"b": list(f"key {AWS}".encode("utf-16-le"))}).encode(),
                 "application/json", "aws_access_key", id="key-as-utf16le-byte-array"),
    # F8: a secret split over one array is still caught (secrets keep their joins).
    pytest.param(json.dumps({"p": [AWS[:10], AWS[10:]]}).encode(), "application/json",
                 "aws_access_key", id="key-split-over-two-strings-of-one-array"),
    pytest.param(f"a={AWS[:10]}&b={AWS[10:]}".encode(), "application/x-www-form-urlencoded",
                 "aws_access_key", id="key-split-over-two-form-fields"),
    pytest.param(json.dumps({"c": list(AWS)}).encode(), "application/json", "aws_access_key",
                 id="key-as-array-of-characters"),
    pytest.param(json.dumps({"c": [{"ch": c} for c in AWS]}).encode(), "application/json",
                 "aws_access_key", id="key-as-characters-over-objects-of-an-array"),
    pytest.param("&".join(f"c{i}={c}" for i, c in enumerate(AWS)).encode(),
                 "application/x-www-form-urlencoded", "aws_access_key",
                 id="key-as-one-character-form-fields"),
]


@pytest.mark.parametrize(("data", "content_type", "detector"), HIDDEN)
def test_hidden_value_is_found(data: bytes, content_type: str | None, detector: str) -> None:
    assert detector in detectors(data, content_type)


HONEST = [
    # F8: joined short numeric strings made cards, phones and SSNs out of nothing.
    pytest.param({"delivery_zips": ["37203", "37206", "37215"]}, id="zip-codes"),
    pytest.param({"retry_on": ["4003", "5002", "5030", "4290"]}, id="status-codes"),
    pytest.param({"ports": ["4000", "5000", "8080", "3000"]}, id="ports"),
    pytest.param({"a": "123", "b": "45", "c": "6789"}, id="short-digits-in-one-object"),
    pytest.param({"digits": list(CARD)}, id="card-as-array-of-digits"),  # PII: not in joins
    pytest.param({"grades": list("ABBACABDAACBAABBCADAB"), "flags": list("yynnynnynyyn")},
                 id="arrays-of-single-letters"),
    pytest.param({"rgb": [12, 200, 33, 4, 5, 6, 7, 8]}, id="small-integer-array"),
    pytest.param({"price": 1999.99, "ratio": 0.5, "big": 1e300}, id="ordinary-floats"),
]


@pytest.mark.parametrize("document", HONEST)
def test_honest_json_has_no_findings(document: object) -> None:
    assert detectors(json.dumps(document).encode(), "application/json") == set()


def test_card_split_over_strings_is_not_caught_by_design() -> None:
    """Documented: personal data split over fields is not looked for (docs/inspection.md)."""
    body = json.dumps({"p": [CARD[:4], CARD[4:8], CARD[8:12], CARD[12:]]}).encode()
    assert "payment_card" not in detectors(body, "application/json")


def test_utf8_reading_is_yielded_beside_a_declared_charset_even_when_invalid() -> None:
    readings = fields(BAD_UTF8, "text/plain; charset=cp037")["body"]
    assert len(readings) == 2
    assert any(AWS in text for text in readings)


def test_integral_floats_keep_every_digit() -> None:
    found = fields(b'{"a": 4.556737586899855e15, "b": 376542598747175.0, "c": 1e999999, '
                   b'"d": 123456789e0, "e": 12345678.9}', "application/json")
    assert found["body:$.a"] == ["4556737586899855"]
    assert found["body:$.d"] == ["123456789"]
    assert "body:$.e" not in found  # not a whole number
    assert found["body:$.b"] == ["376542598747175"]
    assert "body:$.c" not in found  # not turned into a million-digit integer


def test_an_integer_is_read_as_a_card_only_under_a_key_that_says_so() -> None:
    """Random 16-digit ids pass Luhn and an issuer prefix 4 times in 100: an API's `id` and
    `seed` integers are not cards, a customer list's `card` and `cc_number` integers are; in
    the decoded fields and in the whole body as sent alike. Strings, and whole numbers written
    as floats, are read whatever the key."""
    number = int(CARD)
    for document, expected in [
        ({"id": number}, False), ({"seed": number, "ids": [1, 2]}, False),
        ({"card": number}, True), ({"customer": {"cc_number": number}}, True),
        ({"cards": [number]}, True), ({"payment": {"pan": number}}, True),
        ({"id": CARD}, True), ({"id": float(CARD)}, True),
        # Stripe's own shape, and the generic names a card goes by
        ({"card": {"number": number}}, True), ({"number": number}, True),
        ({"acct": number}, True), ({"source": {"account_number": number}}, True),
        ({"order": {"id": number}}, False),
    ]:
        found = "payment_card" in detectors(json.dumps(document).encode(), "application/json")
        assert found is expected, document


def test_byte_array_location_and_threshold() -> None:
    found = fields(json.dumps({"k": list(b"abcdefgh"), "s": list(b"abcdefg")}).encode(),
                   "application/json")
    assert found["body:$.k[bytes]"] == ["abcdefgh"]
    assert "body:$.s[bytes]" not in found  # shorter than BYTE_ARRAY_MIN


def test_nested_multipart_parts_are_named_under_their_parent() -> None:
    found = fields(nested("hello there", "quoted-printable"), MULTIPART)
    assert found["multipart:a/#0"] == ["hello there"]


def test_multipart_nested_too_deep_is_refused() -> None:
    body = b"innermost text"
    for level in range(6):
        body = (f"--b{level}\r\nContent-Type: multipart/mixed; boundary=b{level - 1}\r\n\r\n"
                .encode() + body + f"\r\n--b{level}--\r\n".encode())
    with pytest.raises(DecodeLimitExceeded):
        list(body_fields(body, "multipart/mixed; boundary=b5", limit=LIMIT))


def test_multipart_with_too_many_parts_is_refused() -> None:
    body = multipart(*[part(f'Content-Disposition: form-data; name="f{i}"', "v")
                       for i in range(10_001)])
    with pytest.raises(DecodeLimitExceeded):
        list(body_fields(body, MULTIPART, limit=LIMIT))


def test_plain_utf8_body_is_read_once() -> None:
    assert list(body_fields(b"hello world", "text/plain", limit=LIMIT)) == [
        Field("body", "hello world")]


JOINED_TEXTS = [
    pytest.param("body:$.zips[*]", "372033720637215", set(), id="array-join-no-card"),
    pytest.param("body:$.*", "372033720637215", set(), id="object-join-no-card"),
    pytest.param("form:*", "372033720637215", set(), id="form-join-no-card"),
    pytest.param("form:*", AWS, {"aws_access_key"}, id="form-join-keeps-secrets"),
    pytest.param("body:$.zip", "372033720637215", {"payment_card"}, id="one-field-is-a-card"),
]


@pytest.mark.parametrize(("location", "text", "expected"), JOINED_TEXTS)
def test_joined_locations_are_scanned_for_secrets_only(location: str, text: str,
                                                       expected: set[str]) -> None:
    inspection = inspect_texts([Text(location, text)], SCANNER, b"k" * 32, max_depth=3)
    assert {finding.detector for finding in inspection.findings} == expected


_B64_KEY = base64.b64encode(f"key {AWS}".encode()).decode()
_PLAIN_PART = part('Content-Disposition: form-data; name="a"', "hello")
_CLOSE = f"--{BOUNDARY}--\r\n"

OUTSIDE_PARTS = {
    "base64 in the preamble": f"{_B64_KEY}\r\n" + _PLAIN_PART + _CLOSE,
    "hex in the epilogue": _PLAIN_PART + _CLOSE + f"key {AWS}".encode().hex(),
    "a whole part after an early close": _PLAIN_PART + _CLOSE + part(
        'Content-Disposition: form-data; name="b"', _B64_KEY) + _CLOSE,
    "a part header given twice": part(
        f'Content-Disposition: form-data; name="a"\r\nX-Note: {_B64_KEY}\r\nX-Note: x',
        "hello") + _CLOSE,
    "a folded header line": part(
        f'Content-Disposition: form-data; name="a"\r\nX-Note: x\r\n {_B64_KEY}', "hello")
    + _CLOSE,
    # LF blank line first, a CRLF one later: the body between must not pass for headers
    "a body after an LF blank line": (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\n\n{_B64_KEY}\r\n\r\nmore\r\n'
        + _CLOSE),
}


@pytest.mark.parametrize("body", OUTSIDE_PARTS.values(), ids=OUTSIDE_PARTS.keys())
def test_what_a_multipart_body_holds_outside_its_parts_is_peeled(body: str) -> None:
    """The whole body is only matched as written once parts are found: what lies outside them,
    or in headers the parsed view drops, is peeled as a part is."""
    assert "aws_access_key" in detectors(body.encode(), MULTIPART)


def test_an_ordinary_multipart_body_has_no_preamble_or_epilogue_field() -> None:
    found = fields((_PLAIN_PART + _CLOSE).encode(), MULTIPART)
    assert not any(location.startswith("multipart:#") for location in found)


@pytest.mark.parametrize("dash", ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212",
                                  "\u2043"])
def test_groups_joined_by_any_dash_are_read_as_joined_by_hyphens(dash: str) -> None:
    """A card, or a key in groups, joined by a Unicode dash or minus sign (NFKC keeps them)."""
    card = dash.join(CARD[i:i + 4] for i in range(0, len(CARD), 4))
    key = dash.join(AWS[i:i + 4] for i in range(0, len(AWS), 4))
    assert "payment_card" in detectors(json.dumps({"m": f"card {card}"}).encode(),
                                       "application/json")
    assert "aws_access_key" in detectors(json.dumps({"m": f"key {key}"}).encode(),
                                         "application/json")
