"""Secrets and personal data in every channel and encoding, through the real proxy process.

Fake but format-valid values come from the corpus generator (tests/corpus/fakes.py); no test id or
assertion message ever contains one.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import quopri
import random
import ssl
import string
import tarfile
import textwrap
import urllib.parse
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.corpus import fakes
from tests.corpus.generate import b58encode, zero_width_bits
from tests.e2e.clients import (
    curl,
    curl_codes,
    h2_post_with_trailers,
    http_request,
    open_tunnel,
    tls_client,
)
from tests.e2e.processes import (
    Proxy,
    Upstream,
    start_proxy_on_rules,
    stop,
)

pytestmark = pytest.mark.e2e

RNG = random.Random(20261121)
AWS_KEY = fakes.aws_access_key_id(RNG)
GITHUB_TOKEN = fakes.github_token(RNG, "ghp_")
ANTHROPIC_KEY = fakes.anthropic_key(RNG)
XML_PASSWORD = fakes.chars(RNG, fakes.BASE62, 24)


def rules(upstream: Upstream) -> str:
    https, http = upstream.ports["https"], upstream.ports["http"]
    return f"""\
version: 1
network:
  allow_private: [127.0.0.2/32]
  hosts:
    allowed.test: [127.0.0.2]
    api.allowed.test: [127.0.0.2]
    monitor.test: [127.0.0.2]
    other.test: [127.0.0.2]
inspection:
  max_body_bytes: 262144
  actions:
    github_token: alert
destinations:
  - id: allowed
    host: allowed.test
    ports: [{https}, {http}]
  - id: llm
    host: api.allowed.test
    ports: [{https}]
    inspection:
      actions:
        anthropic_api_key: allow
        aws_access_key: redact
  - id: monitored
    host: monitor.test
    ports: [{https}]
    mode: monitor
  - id: s3-like
    host: other.test
    ports: [{https}]
    inspection:
      location_actions:
        - detector: aws_access_key
          locations: [header:authorization]
          action: allow
"""


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, upstream_ca_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    running = start_proxy_on_rules(rules(upstream), tmp_path_factory.mktemp("inspect"),
                                   upstream_ca=upstream_ca_file)
    yield running
    stop(running.process)
    everything = running.logs()
    for value in (AWS_KEY, GITHUB_TOKEN, ANTHROPIC_KEY):
        for form in _written_forms(value):
            assert form not in everything, "a secret value reached a log"


def _written_forms(value: str) -> list[str]:
    """A value as the tests send it: plain, base64 (both alphabets, without padding), hex,
    reversed, rot13."""
    raw = value.encode()
    return [value, base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex(), value[::-1],
            codecs.encode(value, "rot13")]


def tag() -> str:
    return uuid.uuid4().hex


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


NESTED_MULTIPART = (
    '--o\r\nContent-Disposition: form-data; name="a"\r\n'
    "Content-Type: multipart/mixed; boundary=i\r\n\r\n"
    "--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "key {qp}\r\n--i--\r\n\r\n--o--\r\n")

def _zip(files: dict[str, str] | dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


CHANNELS = {
    "path": lambda t: {"url_suffix": f"/x/{AWS_KEY}?t={t}"},
    "query value": lambda t: {"url_suffix": f"/q?t={t}&key={AWS_KEY}"},
    "query value percent-encoded": lambda t: {
        "url_suffix": f"/q?t={t}&key=" + "".join(f"%{b:02X}" for b in AWS_KEY.encode())},
    "header": lambda t: {"url_suffix": f"/h?t={t}", "headers": {"X-Debug": AWS_KEY}},
    "a character glued on each side, in a header": lambda t: {
        "url_suffix": f"/gl?t={t}", "headers": {"X-Debug": f"Z{AWS_KEY}9"}},
    "a character glued before it, in the path": lambda t: {"url_suffix": f"/x/Q{AWS_KEY}?t={t}"},
    # the audit line keeps query names: this one must not reach it (the fixture checks)
    "base64url of the key as a query name": lambda t: {
        "url_suffix": f"/qn?t={t}&"
        + base64.urlsafe_b64encode(AWS_KEY.encode()).decode().rstrip("=") + "=1"},
    "cookie": lambda t: {"url_suffix": f"/c?t={t}", "headers": {"Cookie": f"s={AWS_KEY}"}},
    "json body": lambda t: {"url_suffix": f"/j?t={t}",
                            "json": {"messages": [{"content": f"my key is {AWS_KEY}"}]}},
    "json unicode escapes": lambda t: {
        "url_suffix": f"/u?t={t}", "headers": {"Content-Type": "application/json"},
        "data": '{"k": "' + "".join(f"\\u{ord(c):04x}" for c in AWS_KEY) + '"}'},
    "form body": lambda t: {"url_suffix": f"/f?t={t}", "data": {"note": AWS_KEY}},
    "multipart upload": lambda t: {"url_suffix": f"/m?t={t}",
                                   "files": {"file": ("creds.txt", f"aws={AWS_KEY}\n")}},
    "gzip body": lambda t: {"url_suffix": f"/g?t={t}",
                            "headers": {"Content-Encoding": "gzip",
                                        "Content-Type": "application/json"},
                            "data": gzip.compress(json.dumps({"k": AWS_KEY}).encode())},
    "base64 in json": lambda t: {"url_suffix": f"/b?t={t}", "json": {"blob": b64(AWS_KEY)}},
    "base64 of gzip in json": lambda t: {
        "url_suffix": f"/bg?t={t}",
        "json": {"blob": base64.b64encode(gzip.compress(f"key {AWS_KEY}".encode())).decode()}},
    "zero-width interleaved": lambda t: {"url_suffix": f"/z?t={t}",
                                         "json": {"k": "\u200b".join(AWS_KEY)}},
    "hex escapes in a text body": lambda t: {
        "url_suffix": f"/x?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": "payload = '" + "".join(f"\\x{b:02x}" for b in AWS_KEY.encode()) + "'"},
    "braced unicode escapes in javascript": lambda t: {
        "url_suffix": f"/ub?t={t}", "json": {"patch": "const k = '" + "".join(
            f"\\u{{{ord(c):x}}}" for c in AWS_KEY) + "';"}},
    "two-digit octal escapes in a shell line": lambda t: {
        "url_suffix": f"/o2?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": "printf '" + "".join(f"\\{ord(c):o}" for c in AWS_KEY) + "'"},
    "cyrillic look-alike letters": lambda t: {
        "url_suffix": f"/y?t={t}", "json": {"k": AWS_KEY.replace("A", "\u0410")}},
    "html references in a form field": lambda t: {
        "url_suffix": f"/r?t={t}", "data": {"comment": "".join(f"&#{ord(c)};" for c in AWS_KEY)}},
    "ascii body behind an invalid byte and a cp037 charset": lambda t: {
        "url_suffix": f"/cs?t={t}", "headers": {"Content-Type": "text/plain; charset=cp037"},
        "data": b"\xff key " + AWS_KEY.encode()},
    "utf-32le body without a bom": lambda t: {
        "url_suffix": f"/u32?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": f"key {AWS_KEY}".encode("utf-32-le")},
    "base64 in a multipart body's preamble": lambda t: {
        "url_suffix": f"/pre?t={t}", "headers": {"Content-Type": "multipart/form-data; boundary=o"},
        "data": b64(f"key {AWS_KEY}") + '\r\n--o\r\nContent-Disposition: form-data; name="a"'
        '\r\n\r\nhello\r\n--o--\r\n'},
    "quoted-printable inside nested multipart": lambda t: {
        "url_suffix": f"/mp?t={t}", "headers": {"Content-Type": "multipart/form-data; boundary=o"},
        "data": NESTED_MULTIPART.format(qp="".join(f"={b:02X}" for b in AWS_KEY.encode()))},
    "json decimal byte array": lambda t: {"url_suffix": f"/ba?t={t}",
                                          "json": {"b": list(AWS_KEY.encode())}},
    "json split over one array": lambda t: {"url_suffix": f"/sp?t={t}",
                                            "json": {"p": [AWS_KEY[:10], AWS_KEY[10:]]}},
    "json split over two chat messages": lambda t: {
        "url_suffix": f"/cm?t={t}", "json": {"messages": [
            {"role": "user", "content": AWS_KEY[:8]},
            {"role": "user", "content": AWS_KEY[8:]}]}},
    "gzip body sent as octet-stream, no content-encoding": lambda t: {
        "url_suffix": f"/rg?t={t}", "headers": {"Content-Type": "application/octet-stream"},
        "data": gzip.compress(f"key={AWS_KEY}".encode())},
    "gzip inside a gzip content-encoding": lambda t: {
        "url_suffix": f"/gg?t={t}", "headers": {"Content-Encoding": "gzip"},
        "data": gzip.compress(gzip.compress(json.dumps({"k": AWS_KEY}).encode()))},
    "bzip2 body": lambda t: {"url_suffix": f"/bz?t={t}",
                             "data": bz2.compress(f"key={AWS_KEY}".encode())},
    "bzip2 inside base64 in json": lambda t: {
        "url_suffix": f"/b2?t={t}",
        "json": {"blob": base64.b64encode(bz2.compress(f"key {AWS_KEY}".encode())).decode()}},
    "xz body": lambda t: {"url_suffix": f"/xz?t={t}",
                          "data": lzma.compress(f"key={AWS_KEY} ".encode() * 50)},
    "gzipped file upload": lambda t: {
        "url_suffix": f"/gu?t={t}",
        "files": {"file": ("creds.txt.gz", gzip.compress(f"aws={AWS_KEY}\n".encode()))}},
    "a zip inside a zip uploaded": lambda t: {
        "url_suffix": f"/zz?t={t}",
        "files": {"file": ("a.war", _zip({"lib/inner.jar": _zip({"creds": f"key={AWS_KEY}"})}))}},
    "zipped credentials uploaded": lambda t: {
        "url_suffix": f"/zu?t={t}",
        "files": {"file": ("aws.zip", _zip({".aws/credentials": f"key = {AWS_KEY}\n"}))}},
    "user agent (a header the audit line keeps)": lambda t: {
        "url_suffix": f"/ua?t={t}", "headers": {"User-Agent": f"tool/1.0 ({AWS_KEY})"}},
    "rot13 in the user agent": lambda t: {
        "url_suffix": f"/u13?t={t}",
        "headers": {"User-Agent": "tool/1.0 " + codecs.encode(AWS_KEY, "rot13")}},
    "base64 in the path": lambda t: {
        "url_suffix": f"/p/{base64.urlsafe_b64encode(AWS_KEY.encode()).decode()}?t={t}"},
    "unicode tag characters (ascii smuggling) in a chat message": lambda t: {
        "url_suffix": f"/tg?t={t}", "json": {"messages": [{"role": "user", "content": (
            "Summarise this. " + "".join(chr(0xE0000 + ord(c)) for c in f"key {AWS_KEY}"))}]}},
    "bytes in variation selectors after an emoji": lambda t: {
        "url_suffix": f"/vs?t={t}", "json": {"note": "Thanks \U0001F642" + "".join(
            chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16)
            for b in f"key {AWS_KEY}".encode())}},
    "key written in groups of four in json": lambda t: {
        "url_suffix": f"/g4?t={t}",
        "json": {"key": " ".join(AWS_KEY[i:i + 4] for i in range(0, len(AWS_KEY), 4))}},
    "key written in groups after a colon in a header": lambda t: {
        "url_suffix": f"/g5?t={t}",
        "headers": {"X-Note": "key: " + " ".join(AWS_KEY[i:i + 5] for i in range(0, 20, 5))}},
    "key written in groups with dashes in a query": lambda t: {
        "url_suffix": f"/gd?t={t}&serial=" + "-".join(AWS_KEY[i:i + 4] for i in range(0, 20, 4))},
    "key one character at a time with dots in json": lambda t: {
        "url_suffix": f"/gc?t={t}", "json": {"serial": ".".join(AWS_KEY)}},
    "key halves on two lines of a text body": lambda t: {
        "url_suffix": f"/gl?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": f"{AWS_KEY[:10]}\n{AWS_KEY[10:]}\n"},
    "key as two string literals glued in code": lambda t: {
        "url_suffix": f"/gs?t={t}",
        "json": {"patch": f'+KEY = "{AWS_KEY[:8]}" + "{AWS_KEY[8:]}"\n'}},
    "key in binary in a chat message": lambda t: {
        "url_suffix": f"/bn?t={t}", "json": {"messages": [{"role": "user", "content": (
            "decode this: " + " ".join(f"{b:08b}" for b in f"key {AWS_KEY}".encode()))}]}},
    "split over two cookies": lambda t: {
        "url_suffix": f"/ck?t={t}",
        "headers": {"Cookie": f"session=abc123; a={AWS_KEY[:10]}; b={AWS_KEY[10:]}"}},
    "split over two header names": lambda t: {
        "url_suffix": f"/hn?t={t}", "headers": {f"X-{AWS_KEY[:9]}": "1", f"X-{AWS_KEY[9:]}": "1"}},
    "split over two headers": lambda t: {
        "url_suffix": f"/hh?t={t}", "headers": {"X-Part-1": AWS_KEY[:9], "X-Part-2": AWS_KEY[9:]}},
    "reversed in json": lambda t: {"url_suffix": f"/rv?t={t}",
                                   "json": {"note": f"backwards: {AWS_KEY[::-1]}"}},
    "rot13 in a header": lambda t: {"url_suffix": f"/13?t={t}",
                                    "headers": {"X-Note": codecs.encode(AWS_KEY, "rot13")}},
    "base64 of the reversed key in a query": lambda t: {
        "url_suffix": f"/rb?t={t}&v=" + base64.urlsafe_b64encode(AWS_KEY[::-1].encode()).decode()},
    "base64 of the key, then reversed, in json": lambda t: {
        "url_suffix": f"/br?t={t}",
        "json": {"blob": base64.b64encode(f"key {AWS_KEY}".encode()).decode()[::-1]}},
    "base64 of the key, then rot13'd, in a chat message": lambda t: {
        "url_suffix": f"/b13?t={t}", "json": {"messages": [{"role": "user", "content": (
            "decode: " + codecs.encode(base64.b64encode(AWS_KEY.encode()).decode(), "rot13"))}]}},
    "base85 in json": lambda t: {
        "url_suffix": f"/85?t={t}", "json": {"blob": base64.b85encode(AWS_KEY.encode()).decode()}},
    "ascii85 in a text body": lambda t: {
        "url_suffix": f"/a85?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": "see " + base64.a85encode(f"key={AWS_KEY}".encode()).decode() + " thanks"},
    "base85 in a query value": lambda t: {
        "url_suffix": f"/q85?t={t}&v=" + urllib.parse.quote(
            base64.b85encode(AWS_KEY.encode()).decode(), safe="")},
    "key lower-cased in json": lambda t: {
        "url_suffix": f"/lc?t={t}", "json": {"note": f"id {AWS_KEY.lower()}"}},
    "key case-swapped in a header": lambda t: {
        "url_suffix": f"/sc?t={t}", "headers": {"X-Note": AWS_KEY.swapcase()}},
    "a raw MIME mail in quoted-printable, a soft line break inside the key": lambda t: {
        "url_suffix": f"/qp?t={t}", "json": {"RawMessage": {"Data": (
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring(f"{'-' * 45} the build key is {AWS_KEY} \u2014 "
                                  "keep it safe.".encode()).decode()
            .replace("\n", "\r\n"))}}},
    "base64 of the key as a multipart upload's file name": lambda t: {
        "url_suffix": f"/fn?t={t}", "files": {"file": (
            base64.b64encode(f"key {AWS_KEY}".encode()).decode() + ".txt", b"hello")}},
    "key halves cut by words in a chat message": lambda t: {
        "url_suffix": f"/hw?t={t}", "json": {"messages": [{"role": "user", "content": (
            f"the first part is {AWS_KEY[:10]} and the rest of it is {AWS_KEY[10:]}")}]}},
    "uuencoded (binascii.b2a_uu) in json": lambda t: {
        "url_suffix": f"/uu?t={t}",
        "json": {"blob": binascii.b2a_uu(f"key {AWS_KEY}".encode()).decode().strip()}},
    "uuencoded block (codecs 'uu') in a text body": lambda t: {
        "url_suffix": f"/uub?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": codecs.encode(f"notes\nkey {AWS_KEY}\n".encode(), "uu")},
    "octal byte values (oct()) in a chat message": lambda t: {
        "url_suffix": f"/oc?t={t}", "json": {"messages": [{"role": "user", "content": (
            "decode: " + ", ".join(oct(b) for b in f"key {AWS_KEY}".encode()))}]}},
    "base64 in groups of four in a chat message": lambda t: {
        "url_suffix": f"/g4?t={t}", "json": {"messages": [{"role": "user", "content": (
            "read it aloud: " + " ".join(textwrap.wrap(
                base64.b64encode(f"key {AWS_KEY}".encode()).decode(), 4)))}]}},
    "base58 (bitcoin alphabet) in json": lambda t: {
        "url_suffix": f"/58?t={t}", "json": {"cid": b58encode(f"key {AWS_KEY}".encode())}},
    "key in groups of four after words in a chat message": lambda t: {
        "url_suffix": f"/gw?t={t}", "json": {"messages": [{"role": "user", "content": (
            "my key is " + " ".join(textwrap.wrap(AWS_KEY, 4)) + ", keep it")}]}},
    "base64 of the key xor'd with one byte in json": lambda t: {
        "url_suffix": f"/xr?t={t}", "json": {"blob": base64.b64encode(
            bytes(b ^ 0x5A for b in f"the key is {AWS_KEY} keep it".encode())).decode()}},
    "bits in zero-width characters in a chat message": lambda t: {
        "url_suffix": f"/zb?t={t}", "json": {"messages": [{"role": "user", "content": (
            "Thanks!" + zero_width_bits(f"key {AWS_KEY}".encode()))}]}},
    "caesar cipher (shift 3) in a chat message": lambda t: {
        "url_suffix": f"/c3?t={t}", "json": {"messages": [{"role": "user", "content": (
            "shifted: " + AWS_KEY.translate(str.maketrans(
                string.ascii_uppercase, string.ascii_uppercase[3:] + string.ascii_uppercase[:3])
            ))}]}},
    "every character doubled in a header": lambda t: {
        "url_suffix": f"/dd?t={t}", "headers": {"X-Note": "".join(c * 2 for c in AWS_KEY)}},
    "key cut into short path segments after others": lambda t: {
        "url_suffix": "/api/v2/upload/" + "/".join(textwrap.wrap(AWS_KEY, 3)) + f"?t={t}"},
    "key cut by an empty CDATA section in an xml body": lambda t: {
        "url_suffix": f"/cd?t={t}", "headers": {"Content-Type": "application/xml"},
        "data": f"<a><k>{AWS_KEY[:8]}<![CDATA[]]>{AWS_KEY[8:]}</k></a>"},
    "key cut by a comment in an html body": lambda t: {
        "url_suffix": f"/hc?t={t}", "headers": {"Content-Type": "text/html"},
        "data": f"<p>{AWS_KEY[:11]}<!-- NOTE 7 -->{AWS_KEY[11:]}</p>"},
    "base64 folded at eight characters (fold -w 8) in a text body": lambda t: {
        "url_suffix": f"/f8?t={t}", "headers": {"Content-Type": "text/plain"},
        "data": "blob:\n" + "\n".join(textwrap.wrap(
            base64.b64encode(f"key {AWS_KEY}".encode()).decode(), 8)) + "\nend\n"},
    # decoded runs opened as bodies are (red team, 2026-11-22)
    "base64 of gzip of gzip in json": lambda t: {
        "url_suffix": f"/gg?t={t}", "json": {"blob": base64.b64encode(gzip.compress(
            gzip.compress(f"key {AWS_KEY}".encode()))).decode()}},
    "base64 of a byte of junk then gzip in json": lambda t: {
        "url_suffix": f"/jg?t={t}", "json": {"blob": base64.b64encode(
            b"\x00" + gzip.compress(f"key {AWS_KEY}".encode())).decode()}},
    "base64 of a zip archive in json": lambda t: {
        "url_suffix": f"/zz?t={t}", "json": {"file": base64.b64encode(
            _zip({"notes.txt": f"key {AWS_KEY}".encode()})).decode()}},
    "a gzip header's file name inside base64 in json": lambda t: {
        "url_suffix": f"/gn?t={t}", "json": {"file": base64.b64encode(
            _gzip_named(AWS_KEY)).decode()}},
}


def _gzip_named(name: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer) as packed:
        packed.write(b"nothing to see")
    return buffer.getvalue()


def _post_channel(proxy: Proxy, upstream: Upstream, make: Callable[[str], dict[str, Any]]
                  ) -> tuple[requests.Response, str]:
    """POST what `make(marker)` describes (`url_suffix` and requests' keyword arguments) to
    allowed.test; the response and the marker the upstream would record."""
    marker = tag()
    spec = make(marker)
    url = f"https://allowed.test:{upstream.ports['https']}{spec.pop('url_suffix')}"
    return proxy.session().post(url, timeout=10, **spec), marker


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_secret_in_every_channel_is_blocked(proxy: Proxy, upstream: Upstream,
                                              channel: str) -> None:
    response, marker = _post_channel(proxy, upstream, CHANNELS[channel])
    assert response.status_code == 403, channel
    assert response.headers["X-Glassbreak-Reason"] == "secret_detected"
    body = response.json()
    assert {f["detector"] for f in body["findings"]} == {"aws_access_key"}
    assert AWS_KEY not in response.text
    assert upstream.seen_with_marker(marker) == []


def test_a_key_cut_into_path_segments_never_reaches_the_audit_line(proxy: Proxy,
                                                                   upstream: Upstream) -> None:
    marker = tag()
    pieces = "/".join((AWS_KEY[:6], AWS_KEY[6:12], AWS_KEY[12:]))
    response = proxy.session().get(
        f"https://allowed.test:{upstream.ports['https']}/seg/{pieces}/raw?t={marker}", timeout=10)
    assert response.status_code == 403
    assert pieces not in proxy.audit_log.read_text()
    assert upstream.seen_with_marker(marker) == []


def _private_key_der() -> bytes:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())


KEY_DER = _private_key_der()
# A private key without its PEM lines: the body alone, hex, the file's bytes, and a key (any
# secret) in an archive inside an archive.
UNARMOURED_KEYS = {
    "base64 body without its lines, in json": lambda t: {
        "url_suffix": f"/kb?t={t}", "json": {"k": base64.b64encode(KEY_DER).decode()}},
    "hex in json": lambda t: {"url_suffix": f"/kh?t={t}", "json": {"k": KEY_DER.hex()}},
    "der file uploaded": lambda t: {"url_suffix": f"/kf?t={t}",
                                    "files": {"file": ("id.der", KEY_DER)}},
    "der file in a zip in a zip": lambda t: {
        "url_suffix": f"/kz?t={t}",
        "files": {"file": ("a.zip", _zip({"inner.zip": _zip({"k.der": KEY_DER})}))}},
    "der file in a tar.gz sent as it is": lambda t: {
        "url_suffix": f"/kt?t={t}", "headers": {"Content-Type": "application/octet-stream"},
        "data": gzip.compress(_tar({"id.der": KEY_DER}))},
    "der file in a tar.gz in base64 in json": lambda t: {
        "url_suffix": f"/kj?t={t}",
        "json": {"layer": base64.b64encode(gzip.compress(_tar({"id.der": KEY_DER}))).decode()}},
}


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("form", UNARMOURED_KEYS)
def test_a_private_key_without_its_pem_lines_is_blocked(proxy: Proxy, upstream: Upstream,
                                                        form: str) -> None:
    response, marker = _post_channel(proxy, upstream, UNARMOURED_KEYS[form])
    assert (response.status_code, response.headers.get("X-Glassbreak-Reason")) == (
        403, "secret_detected"), form
    assert "private_key" in {f["detector"] for f in response.json()["findings"]}
    assert upstream.seen_with_marker(marker) == []


def test_an_archive_with_an_encrypted_member_is_blocked_unread(proxy: Proxy,
                                                              upstream: Upstream) -> None:
    marker = tag()
    archive = bytearray(_zip({"notes.txt": "nothing to see"}))
    archive[6] |= 0x1  # the member's "encrypted" flag, local header and central directory
    archive[archive.find(b"PK\x01\x02") + 8] |= 0x1
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/enc?t={marker}",
        files={"file": ("notes.zip", bytes(archive))}, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "body_undecodable")
    assert upstream.seen_with_marker(marker) == []


@pytest.mark.parametrize("method", [
    AWS_KEY,
    # mixed case: scanned as sent, not as mitmproxy's upper-cased view (which decodes to noise)
    base64.urlsafe_b64encode(AWS_KEY.encode()).decode().rstrip("="),
], ids=["plain", "base64url"])
def test_a_secret_as_the_method_is_blocked_and_not_logged(proxy: Proxy, upstream: Upstream,
                                                          method: str) -> None:
    marker = tag()
    port = upstream.ports["https"]
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    assert reply.status == 200
    with tls_client(sock, "allowed.test", proxy.ca) as tls:  # requests would upper-case it
        answer = http_request(tls, method, f"/me?t={marker}", [("Host", f"allowed.test:{port}")])
    assert (answer.status, answer.reason) == (403, "secret_detected"), answer.body[:300]
    assert [f["location"] for f in answer.json()["findings"]] == ["method"]
    assert upstream.seen_with_marker(marker) == []
    line = proxy.audit_for(answer.headers["x-glassbreak-request-id"])[0]
    assert line["method"] == "[REDACTED:aws_access_key]"


def test_a_secret_in_plain_http_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    response = proxy.session().post(f"http://allowed.test:{upstream.ports['http']}/p?t={marker}",
                                  data=f"token={AWS_KEY}", timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (403,
                                                                               "secret_detected")
    assert upstream.seen_with_marker(marker) == []


def test_benign_bodies_arrive_byte_for_byte(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    lock = {"packages": {f"node_modules/p{i}": {
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(str(i).encode()).digest())
        .decode(), "resolved": f"https://registry.npmjs.org/p{i}/-/p{i}-1.0.{i}.tgz",
        "id": str(uuid.UUID(int=i))} for i in range(50)}, "commit": hashlib.sha1(b"x").hexdigest()}
    for body, headers in (
        (json.dumps(lock).encode(), {"Content-Type": "application/json"}),
        (gzip.compress(json.dumps(lock).encode()), {"Content-Type": "application/json",
                                                    "Content-Encoding": "gzip"}),
    ):
        response = proxy.session().post(
            f"https://allowed.test:{upstream.ports['https']}/ok?t={marker}", data=body,
            headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


def _png(side: int) -> bytes:
    """A valid PNG of random pixels: what a screenshot upload looks like to inspection."""
    rng = random.Random(side)
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_binary_uploads_and_long_multilingual_messages_arrive_byte_for_byte(
        proxy: Proxy, upstream: Upstream) -> None:
    """Binary data read as text, and long text in several scripts with emoji, once made every
    normalisation and decoding of the whole text a copy of it, past the peel budget: an image
    upload of 12 KiB or a chat message of 20 KB in Russian was refused (inspection_limit)."""
    marker = tag()
    image = _png(256)
    message = ("Привет! Вот отчёт о сборке… Всё прошло хорошо "  # noqa: RUF001 (Russian)
               "\U0001F468\u200d\U0001F469\u200d\U0001F467 и тесты зелёные. ") * 300
    chat = json.dumps({"messages": [{"role": "user", "content": message}]}).encode()
    url = f"https://allowed.test:{upstream.ports['https']}/up?t={marker}"
    for body, headers in (
        (image, {"Content-Type": "image/png"}),
        (random.Random(5).randbytes(200 * 1024), {"Content-Type": "application/octet-stream"}),
        (chat, {"Content-Type": "application/json"}),
    ):
        response = proxy.session().post(url, data=body, headers=headers, timeout=20)
        assert response.status_code == 200, response.headers.get("X-Glassbreak-Reason")
        assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    uploaded = proxy.session().post(url, files={"file": ("shot.png", image, "image/png")},
                                    timeout=20)
    assert uploaded.status_code == 200, uploaded.headers.get("X-Glassbreak-Reason")


@pytest.mark.parametrize("wrap", ["grpc-frame", "pdf-stream", "png-text-chunk", "after-a-byte"])
def test_a_secret_compressed_inside_a_binary_body_is_blocked(proxy: Proxy, upstream: Upstream,
                                                             wrap: str) -> None:
    payload = f"notes for the deploy: aws_access_key_id = {AWS_KEY}\n".encode() * 3
    packed = zlib.compress(payload)
    image = _png(32)
    body = {
        "grpc-frame": b"\x01" + len(gzip.compress(payload)).to_bytes(4, "big")
        + gzip.compress(payload),
        "pdf-stream": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n4 0 obj\n<< /Filter /FlateDecode >>\n"
        b"stream\n" + packed + b"\nendstream\nendobj\n",
        "png-text-chunk": image[:33] + len(packed).to_bytes(4, "big") + b"zTXt" + packed
        + b"\x00\x00\x00\x00" + image[33:],
        "after-a-byte": b"\x07" + gzip.compress(payload),
    }[wrap]
    marker = tag()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/bin?t={marker}", data=body,
        headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "secret_detected")
    assert upstream.seen_with_marker(marker) == []


# Code and documentation as agents paste them into prompts (shapes found in the installed
# packages by bench/honest_code.py): key words inside longer words, code naming its key again,
# constants, ARNs, timestamps, templates, placeholders that rot13 or reversal make look random.
HONEST_CODE = """\
self.passthrough_errors = passthrough_errors
"passthroughBehavior": "WHEN_NO_MATCH",
def load(passphrase: PassphraseCallableT | None = None) -> None:
    pwd_salt = pwd+salt
    if token == TOKEN_LINESTATEMENT_BEGIN:
        style = {Token.Prompt: '#ansibrightblue'}
"PasswordLastUsed": "2016-09-08T21:47:36Z",
"ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestSecret-a1b2c3",
"AWS::MSK::BatchScramSecret": "ff2b807a577495b0",
return u("otpauth://totp/%s?%s") % (label, query)
# "https://username:password@host.com:80/path?query#fragment"
url.replace("http://", "http://me:secret@")
@IntegerPredicate.register(Symbol)
sDN $ languageId $ indexDefinition $ NCPKeyMaterialName $ ldapServerDN
"""


def test_code_sent_to_an_llm_arrives_byte_for_byte(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    body = json.dumps({"model": "m", "messages": [
        {"role": "user", "content": f"Why does this fail?\n{HONEST_CODE}"}]}).encode()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/v1/chat?t={marker}", data=body,
        headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200, response.headers.get("X-Glassbreak-Detector")
    assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("line", [
    'password: "{upper}"',
    '"passphrase": "{letters}"',
    "api_key={lower}",
    "NOTION_TOKEN=secret_{mixed}",
    "{url_rot13}",
], ids=["upper-case-letters", "mixed-case-letters", "lower-case-letters",
        "token-named-by-its-kind", "url-password-rot13"])
def test_random_values_in_the_same_shapes_are_blocked(proxy: Proxy, upstream: Upstream,
                                                      line: str) -> None:
    rng = random.Random(line)
    values = {name: fakes.chars(rng, alphabet, 20) for name, alphabet in (
        ("upper", string.ascii_uppercase), ("letters", string.ascii_letters),
        ("lower", string.ascii_lowercase), ("mixed", fakes.BASE62))}
    url = f"postgres://admin:{fakes.chars(rng, fakes.BASE62, 16)}@db.internal:5432/app"
    text = line.format(url_rot13=codecs.encode(url, "rot13"), **values)
    marker = tag()
    body = json.dumps({"messages": [{"role": "user", "content": f"{HONEST_CODE}{text}\n"}]})
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/v1/chat?t={marker}", data=body,
        headers={"Content-Type": "application/json"}, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (403,
                                                                               "secret_detected")
    assert upstream.seen_with_marker(marker) == []


def test_short_numeric_strings_joined_are_not_personal_data(proxy: Proxy,
                                                              upstream: Upstream) -> None:
    """Zip codes joined pass a card's Luhn check: PII is not looked for in joins."""
    marker = tag()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/zips?t={marker}",
        json={"delivery_zips": ["37203", "37206", "37215"]}, timeout=10)
    assert response.status_code == 200
    assert len(upstream.seen_with_marker(marker)) == 1


def test_alert_mode_forwards_and_logs_without_the_value(proxy: Proxy,
                                                        upstream: Upstream) -> None:
    marker = tag()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/alert?t={marker}",
        json={"token": GITHUB_TOKEN}, timeout=10)
    assert response.status_code == 200
    assert len(upstream.seen_with_marker(marker)) == 1
    lines = [line for line in proxy.audit() if line.get("path") == "/alert?t="]
    [finding] = lines[-1]["findings"]  # type: ignore[misc]
    assert finding["detector"] == "github_token" and finding["action"] == "alert"
    assert len(finding["hash"]) == 64 and GITHUB_TOKEN not in json.dumps(lines[-1])


def test_encoded_copies_of_a_key_in_logged_headers_are_not_logged(proxy: Proxy,
                                                                  upstream: Upstream) -> None:
    """A key sent plain in one header and encoded in the logged ones: its finding names one
    location, and the user agent's base64 went to the audit line (red team exfil5)."""
    marker = tag()
    encoded = {"User-Agent": b64(AWS_KEY), "Accept": AWS_KEY.encode().hex()}
    response = proxy.session().get(
        f"https://allowed.test:{upstream.ports['https']}/enc?t={marker}",
        headers={"X-T": AWS_KEY, **encoded}, timeout=10)
    assert response.status_code == 403
    [line] = proxy.audit_for(response.headers["X-Glassbreak-Request-Id"])
    logged = json.dumps(line)
    for value in (*encoded.values(), AWS_KEY):
        assert value.rstrip("=") not in logged, "an encoded key reached the audit line"
    assert str(line["headers"]["user-agent"]).startswith("[REDACTED:")  # type: ignore[index]


def test_a_destination_may_receive_its_own_key_and_nothing_else(proxy: Proxy,
                                                                upstream: Upstream) -> None:
    base = f"https://api.allowed.test:{upstream.ports['https']}"
    own = proxy.session().post(f"{base}/v1/messages", json={"x": 1},
                             headers={"X-Api-Key": ANTHROPIC_KEY}, timeout=10)
    assert own.status_code == 200
    elsewhere = proxy.session().post(f"https://allowed.test:{upstream.ports['https']}/leak",
                                   headers={"X-Api-Key": ANTHROPIC_KEY}, timeout=10)
    assert (elsewhere.status_code, elsewhere.headers["X-Glassbreak-Reason"]) == (
        403, "secret_detected")


def _sigv4(key_id: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={key_id}/20261122/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "ab12" * 16)


@pytest.mark.parametrize(("headers", "body", "status"), [
    pytest.param({"Authorization": _sigv4(AWS_KEY)}, b"object bytes", 200,
                 id="sigv4-header"),  # what S3 must get
    pytest.param({"Authorization": _sigv4(AWS_KEY)}, f"key={AWS_KEY}".encode(), 403,
                 id="key-in-the-object"),
    pytest.param({"X-Amz-Meta-Note": AWS_KEY}, b"object bytes", 403, id="key-in-another-header"),
    pytest.param({"Authorization": _sigv4(AWS_KEY), "X-Api-Key": ANTHROPIC_KEY}, b"x", 403,
                 id="another-key-beside-it"),
])
def test_a_location_action_allows_a_key_in_one_header_only(
        proxy: Proxy, upstream: Upstream, headers: dict[str, str], body: bytes,
        status: int) -> None:
    marker = tag()
    response = proxy.session().put(
        f"https://other.test:{upstream.ports['https']}/bucket/object?t={marker}", data=body,
        headers=headers, timeout=10)
    assert response.status_code == status
    assert len(upstream.seen_with_marker(marker)) == (1 if status == 200 else 0)
    if status == 403:
        assert response.headers["X-Glassbreak-Reason"] == "secret_detected"


def test_redact_mode_delivers_the_placeholder_with_a_correct_length(proxy: Proxy,
                                                                    upstream: Upstream) -> None:
    marker = tag()
    body = json.dumps({"note": f"key {AWS_KEY} here", "n": 1}).encode()
    response = proxy.session().post(
        f"https://api.allowed.test:{upstream.ports['https']}/v1/r?t={marker}", data=body,
        headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    [seen] = upstream.seen_with_marker(marker)
    expected = body.replace(AWS_KEY.encode(), b"[REDACTED:aws_access_key]")
    assert seen["body_sha256"] == hashlib.sha256(expected).hexdigest()
    assert seen["body_len"] == len(expected)


def test_redact_of_an_encoded_value_blocks_instead(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    response = proxy.session().post(
        f"https://api.allowed.test:{upstream.ports['https']}/v1/r?t={marker}",
        json={"blob": b64(AWS_KEY)}, timeout=10)
    assert response.status_code == 403
    assert upstream.seen_with_marker(marker) == []


@pytest.mark.parametrize("note", [
    f"{AWS_KEY} and again {b64(AWS_KEY)}",
    f"{AWS_KEY} reversed {AWS_KEY[::-1]}",
    f"{AWS_KEY} percent " + "".join(f"%{b:02X}" for b in AWS_KEY.encode()),
], ids=["base64", "reversed", "percent"])
def test_redact_of_a_value_also_encoded_in_the_same_field_blocks(proxy: Proxy,
                                                                 upstream: Upstream,
                                                                 note: str) -> None:
    """The value is reported once per place, so only its plain copy could be replaced: the
    redacted request is inspected again, and the encoded copy left in it blocks."""
    marker = tag()
    response = proxy.session().post(
        f"https://api.allowed.test:{upstream.ports['https']}/v1/r?t={marker}",
        json={"note": note}, timeout=10)
    assert response.status_code == 403
    assert upstream.seen_with_marker(marker) == []


def test_monitor_mode_forwards_a_secret_and_logs_a_would_block(proxy: Proxy,
                                                               upstream: Upstream) -> None:
    marker = tag()
    response = proxy.session().post(f"https://monitor.test:{upstream.ports['https']}/m?t={marker}",
                                  json={"k": AWS_KEY}, timeout=10)
    assert response.status_code == 200
    lines = [line for line in proxy.audit() if line.get("path") == "/m?t="]
    [finding] = lines[-1]["findings"]  # type: ignore[misc]
    assert finding["would_block"] is True and finding["action"] == "block"


def test_a_body_over_the_limit_is_never_forwarded(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/big?t={marker}",
        data=b"a" * 300_000, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "body_too_large")
    assert upstream.seen_with_marker(marker) == []


@pytest.mark.parametrize("headers", [
    {"Content-Encoding": "gzip"},
    {"Content-Type": "application/octet-stream"},  # no Content-Encoding: read all the same
], ids=["content-encoding", "sent-as-is"])
def test_a_gzip_bomb_is_refused(proxy: Proxy, upstream: Upstream,
                                headers: dict[str, str]) -> None:
    marker = tag()
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/bomb?t={marker}", data=bomb,
        headers=headers, timeout=30)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "body_too_large")
    assert upstream.seen_with_marker(marker) == []


def test_a_body_compressed_past_the_bound_is_refused_unread(proxy: Proxy,
                                                            upstream: Upstream) -> None:
    """gzip five times: three are undone, and what is still compressed below them is not
    forwarded unread (it was, before 2026-11-22)."""
    marker = tag()
    body = f"token={GITHUB_TOKEN}".encode()
    for _ in range(5):
        body = gzip.compress(body)
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/deep?t={marker}", data=body,
        headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "inspection_limit")
    assert upstream.seen_with_marker(marker) == []


@contextlib.contextmanager
def _websocket(proxy: Proxy, upstream: Upstream) -> Iterator[ssl.SSLSocket]:
    """A WebSocket to the upstream's echo endpoint, through the proxy, upgraded."""
    port = upstream.ports["https"]
    upgrade = [("Host", f"allowed.test:{port}"), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
               ("Sec-WebSocket-Version", "13")]
    sock, _ = open_tunnel(proxy.port, f"allowed.test:{port}")
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        assert http_request(tls, "GET", "/ws", upgrade).status == 101
        yield tls


def test_a_secret_in_a_websocket_message_closes_the_socket(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    with _websocket(proxy, upstream) as tls:
        tls.sendall(_masked_text_frame("hello"))
        assert b"hello" in tls.recv(1024)
        tls.sendall(_masked_text_frame(f"my key is {AWS_KEY}"))
        assert _closed_without_echo(tls)


def test_a_gzipped_secret_in_a_binary_websocket_message_closes_the_socket(
        proxy: Proxy, upstream: Upstream) -> None:
    with _websocket(proxy, upstream) as tls:
        harmless = gzip.compress(b"just a build log line", mtime=0)
        tls.sendall(_masked_frame(harmless, opcode=0x2))
        assert harmless in tls.recv(1024)  # binary compressed data as such passes
        tls.sendall(_masked_frame(gzip.compress(f"key {AWS_KEY}".encode(), mtime=0),
                                  opcode=0x2))
        assert _closed_without_echo(tls)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16", "utf-32-le"])
def test_a_wide_encoded_secret_in_a_binary_websocket_message_closes_the_socket(
        proxy: Proxy, upstream: Upstream, codec: str) -> None:
    """Read as a body would be: UTF-16 or UTF-32 by its BOM or its zero bytes."""
    with _websocket(proxy, upstream) as tls:
        harmless = "a build log line".encode(codec)
        tls.sendall(_masked_frame(harmless, opcode=0x2))
        assert harmless in tls.recv(1024)
        tls.sendall(_masked_frame(f"key {AWS_KEY}".encode(codec), opcode=0x2))
        assert _closed_without_echo(tls)


def test_a_websocket_pings_payload_does_not_reach_the_upstream(proxy: Proxy,
                                                               upstream: Upstream) -> None:
    """mitmproxy relays pings with no hook: the payload goes out empty. The upstream answers
    a ping with a pong of the payload it got, so the pong shows what it got."""
    with _websocket(proxy, upstream) as tls:
        tls.sendall(_masked_frame(f"key {AWS_KEY}".encode(), opcode=0x9))
        head = tls.recv(2)
        assert head[0] == 0x8A  # a pong, final
        length = head[1] & 0x7F
        assert length == 0, tls.recv(length)


def _closed_without_echo(tls: ssl.SSLSocket) -> bool:
    """The proxy closed the socket at once: no echo came back, and no wait for a timeout."""
    tls.settimeout(5)
    try:
        return tls.recv(1024) == b""
    except TimeoutError:
        return False  # still open: the message was dropped, but the socket was not closed
    except (ConnectionResetError, ssl.SSLError):
        return True


def _masked_text_frame(text: str) -> bytes:
    return _masked_frame(text.encode(), opcode=0x1)


def _masked_frame(payload: bytes, *, opcode: int) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def test_one_email_passes_and_a_customer_list_does_not(proxy: Proxy,
                                                       upstream: Upstream) -> None:
    base = f"https://allowed.test:{upstream.ports['https']}"
    commit = proxy.session().post(f"{base}/commit", json={
        "message": "Fix the parser\n\nSigned-off-by: Jane Doe <jane.doe@example.org>"},
        timeout=10)
    assert commit.status_code == 200
    rng = random.Random(7)
    csv = fakes.customer_csv(rng, 40)
    export = proxy.session().post(f"{base}/export", data=csv,
                                headers={"Content-Type": "text/csv"}, timeout=10)
    assert (export.status_code, export.headers["X-Glassbreak-Reason"]) == (403, "pii_detected")


def test_a_social_security_number_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    ssn = fakes.us_ssn(random.Random(11))
    response = proxy.session().post(f"https://allowed.test:{upstream.ports['https']}/form",
                                  data={"ssn": ssn}, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (403,
                                                                                "pii_detected")
    assert ssn not in response.text


def test_http2_requests_are_inspected_alike(proxy: Proxy, upstream: Upstream) -> None:
    marker = tag()
    url = f"https://allowed.test:{upstream.ports['https']}/h2?t={marker}"
    clean = curl(proxy.url, url, cafile=proxy.ca, extra=["--http2", "-d", '{"ok": 1}', "-v"])
    assert curl_codes(clean)[0] == 200 and "HTTP/2 200" in clean.stderr
    leaked = curl(proxy.url, url, cafile=proxy.ca,
                  extra=["--http2", "-H", f"X-Token: {AWS_KEY}", "-i"])
    assert curl_codes(leaked)[0] == 403
    assert "x-glassbreak-reason: secret_detected" in leaked.stdout.lower()
    assert len(upstream.seen_with_marker(marker)) == 1


def test_a_secret_after_a_fragment_mark_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    """mitmproxy's query view drops what follows "#"; the request-target is sent whole. A raw
    "#" is refused before inspection now (request_malformed), and the audit line does not
    hold the key (the module's teardown checks the logs)."""
    port = upstream.ports["https"]
    for target in (f"/p?t={{m}}#{AWS_KEY}", f"/p?t={{m}}&a=1#k={AWS_KEY}"):
        marker = tag()
        sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
        assert reply.status == 200
        tls = tls_client(sock, "allowed.test", proxy.ca)
        answer = http_request(tls, "GET", target.format(m=marker),
                              [("Host", f"allowed.test:{port}")])
        tls.close()
        assert answer.status == 403, target
        assert answer.headers["x-glassbreak-reason"] == "request_malformed"
        assert upstream.seen_with_marker(marker) == []


@pytest.mark.parametrize("channel", ["query", "json", "form", "header"])
def test_a_key_written_in_utf16_inside_a_field_is_blocked(proxy: Proxy, upstream: Upstream,
                                                           channel: str) -> None:
    """UTF-16 bytes, percent-encoded or as a JSON string of NUL-interleaved characters, went
    through every channel (red team exfil5): only whole bodies were read by their codec."""
    marker = tag()
    wide = f"aws_access_key_id={AWS_KEY}".encode("utf-16")  # github_token is alert here
    url = f"https://allowed.test:{upstream.ports['https']}/w?t={marker}"
    session = proxy.session()
    if channel == "query":
        reply = session.get(f"{url}&q={urllib.parse.quote(wide)}", timeout=10)
    elif channel == "json":
        reply = session.post(url, data=json.dumps({"note": wide.decode("latin-1")}),
                             headers={"Content-Type": "application/json"}, timeout=10)
    elif channel == "form":
        reply = session.post(url, data=f"a=1&note={urllib.parse.quote(wide)}",
                             headers={"Content-Type": "application/x-www-form-urlencoded; "
                                                      "charset=utf-16le"}, timeout=10)
    else:
        reply = session.get(url, headers={"X-Note": urllib.parse.quote(wide)}, timeout=10)
    assert reply.status_code == 403
    assert reply.headers["X-Glassbreak-Reason"] == "secret_detected"
    assert "wide" in reply.json()["findings"][0]["layers"]
    assert upstream.seen_with_marker(marker) == []


@pytest.mark.parametrize(("where", "size", "refused"), [
    ("query", 300_000, True), ("header", 300_000, True),
    ("query", 100_000, False), ("header", 100_000, False),  # near misses: under the cap
])
def test_a_huge_request_line_or_header_block_is_refused_unread(
        proxy: Proxy, upstream: Upstream, where: str, size: int, refused: bool) -> None:
    """A 5 MB request line cost 10 s of inspection and was then forwarded (red team exfil5):
    past MAX_HEAD_BYTES the request is refused before inspection."""
    marker = tag()
    filler = "a=1&" * (size // 4)
    url = f"https://allowed.test:{upstream.ports['https']}/h?t={marker}"
    if where == "query":
        response = proxy.session().get(f"{url}&{filler}", timeout=30)
    else:
        response = proxy.session().get(url, headers={"X-Filler": filler}, timeout=30)
    if refused:
        assert response.status_code == 403
        assert response.headers["X-Glassbreak-Reason"] == "inspection_limit"
        assert upstream.seen_with_marker(marker) == []
    else:  # whatever the upstream makes of it (aiohttp refuses long lines), not our refusal
        assert "X-Glassbreak-Reason" not in response.headers


def test_a_secret_split_over_query_parameters_is_blocked(proxy: Proxy,
                                                         upstream: Upstream) -> None:
    marker = tag()
    url = (f"https://allowed.test:{upstream.ports['https']}/s?t={marker}"
           f"&a={AWS_KEY[:10]}&b={AWS_KEY[10:]}")
    response = proxy.session().get(url, timeout=10)
    assert response.status_code == 403
    assert [f["location"] for f in response.json()["findings"]] == ["query:*"]
    assert upstream.seen_with_marker(marker) == []


def test_a_key_nested_deeper_than_max_depth_is_refused_unread(proxy: Proxy,
                                                               upstream: Upstream) -> None:
    """Four layers of base64 at the default depth of three: what lies below is not looked
    into, so the request is refused with inspection_limit, not forwarded."""
    marker = tag()
    blob = f"key {AWS_KEY}"
    for _ in range(4):
        blob = b64(blob)
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/deep?t={marker}",
        json={"blob": blob}, timeout=10)
    assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
        403, "inspection_limit")
    assert upstream.seen_with_marker(marker) == []


def test_a_password_in_an_xml_settings_file_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    """Maven's settings.xml: the password is an element's text, not `password=`."""
    marker = tag()
    settings = ("<settings><servers><server><id>releases</id><username>deploy</username>"
                f"<password>{XML_PASSWORD}</password></server></servers></settings>")
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/xml?t={marker}",
        files={"file": ("settings.xml", settings)}, timeout=10)
    assert response.status_code == 403
    assert {f["detector"] for f in response.json()["findings"]} == {"high_entropy_assignment"}
    assert XML_PASSWORD not in response.text
    assert upstream.seen_with_marker(marker) == []


def test_a_secret_sent_one_character_at_a_time_is_blocked(proxy: Proxy,
                                                          upstream: Upstream) -> None:
    """A JSON array of single characters, and the same key cut by a short word: both joins
    (pieces of at most JOIN_PART_MAX characters)."""
    for body, location in (({"chars": list(ANTHROPIC_KEY)}, "body:$.chars[*]"),
                           ({"parts": [ANTHROPIC_KEY[:10], "ok", ANTHROPIC_KEY[10:60],
                                      ANTHROPIC_KEY[60:]]},
                            "body:$.parts[*]")):
        marker = tag()
        response = proxy.session().post(
            f"https://allowed.test:{upstream.ports['https']}/chars?t={marker}", json=body,
            timeout=10)
        assert response.status_code == 403
        assert {(f["detector"], f["location"]) for f in response.json()["findings"]} == {
            ("anthropic_api_key", location)}
        assert upstream.seen_with_marker(marker) == []
    clean = tag()  # single letters that spell nothing pass
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/chars?t={clean}",
        json={"grades": list("ABBACABDAACBAABBCADAB"), "digits": list("4111111111111111")},
        timeout=10)
    assert response.status_code == 200
    assert len(upstream.seen_with_marker(clean)) == 1


def test_http2_trailers_are_inspected(proxy: Proxy, upstream: Upstream) -> None:
    authority = f"allowed.test:{upstream.ports['https']}"
    marker = tag()
    status = h2_post_with_trailers(proxy.port, authority, f"/tr?t={marker}", proxy.ca,
                                   body=b"hello", trailers=[("x-checksum", AWS_KEY)])
    assert status == 403
    assert upstream.seen_with_marker(marker) == []
    # Clean trailers are let through by Glassbreak (whatever the HTTP/1.1 upstream makes of
    # them: mitmproxy relays them, aiohttp answers 400).
    clean = tag()
    status = h2_post_with_trailers(proxy.port, authority, f"/tr/{clean}", proxy.ca,
                                   body=b"hello", trailers=[("x-checksum", "sha256-ok")])
    assert status != 403
    decisions = [line["decision"] for line in proxy.audit() if clean in str(line.get("path"))]
    assert decisions == ["allow"]
