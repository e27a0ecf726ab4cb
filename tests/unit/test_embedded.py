"""Compressed streams inside binary data (proxy/inspection/embedded.py), and binary data read as
text (only its runs of text are peeled): tables with near misses, and the bounds."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import random
import struct
import zipfile
import zlib

import brotli  # type: ignore[import-untyped]  # no stubs or py.typed marker
import pytest
import zstandard

from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.embedded import MAX_CANDIDATES, embedded_streams
from proxy.inspection.engine import inspect_texts
from proxy.inspection.fields import Field
from proxy.inspection.layers import peel
from proxy.inspection.readings import uncompressed_layers
from proxy.inspection.scanner import Scanner
from tests.corpus import fakes

LIMIT = 10 * 1024 * 1024
KEY = fakes.aws_access_key_id(random.Random(7))
TEXT = f"deploy notes: aws_access_key_id = {KEY} and more words to compress well. ".encode() * 3


def _zip(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", payload)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, text: bytes | None = None) -> bytes:
    """A valid PNG of random pixels, with a zTXt chunk holding `text` when given."""
    rng = random.Random(width * height)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    if text is not None:
        chunks.append(_png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(text)))
    chunks += [_png_chunk(b"IDAT", zlib.compress(rows)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


JUNK = bytes(random.Random(9).randbytes(37))
FOUND = [
    pytest.param(b"\x00" + gzip.compress(TEXT), id="gzip-after-one-byte"),
    pytest.param(b"\x01" + struct.pack(">I", len(gzip.compress(TEXT))) + gzip.compress(TEXT),
                 id="grpc-frame-gzip"),
    pytest.param(JUNK + zlib.compress(TEXT) + JUNK, id="zlib-between-junk"),
    pytest.param(JUNK + zlib.compress(TEXT, 1) + JUNK, id="zlib-level-1"),
    pytest.param(JUNK + zlib.compress(TEXT, 9) + JUNK, id="zlib-level-9"),
    pytest.param(JUNK + zlib.compress(TEXT, 3) + JUNK, id="zlib-level-3"),
    pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\n"
                 + zlib.compress(TEXT) + b"\nendstream\nendobj\n", id="pdf-flate-stream"),
    pytest.param(png(16, 16, text=TEXT), id="png-ztxt-chunk"),
    pytest.param(JUNK + zstandard.ZstdCompressor().compress(TEXT), id="zstd-after-junk"),
    pytest.param(JUNK + lzma.compress(TEXT), id="xz-after-junk"),
    pytest.param(JUNK + bz2.compress(TEXT), id="bzip2-after-junk"),
    pytest.param(b"junkjunk" + _zip(TEXT), id="zip-after-junk"),
    pytest.param(zlib.compress(TEXT)[2:-4], id="raw-deflate"),
    pytest.param(brotli.compress(TEXT), id="brotli"),
    pytest.param(b"hello world\n" * 100 + gzip.compress(TEXT), id="gzip-after-a-kib-of-text"),
    pytest.param(JUNK + gzip.compress(TEXT)[:-30], id="gzip-cut-short"),
]


@pytest.mark.parametrize("data", FOUND)
def test_a_stream_inside_binary_data_is_read(data: bytes) -> None:
    assert any(KEY.encode() in output for output in embedded_streams(data, LIMIT))
    # and through the body's layers, as the request hook reads a body
    assert any(KEY.encode() in layer for layer in uncompressed_layers(data, LIMIT))


NOT_FOUND = [
    pytest.param(random.Random(1).randbytes(1 << 20), id="random-mebibyte"),
    pytest.param(b"x^2 + y^2 = z^2; " * 5000, id="text-with-zlib-looking-pairs"),
    pytest.param(b'{"note": "BZh91AY&SY is how bzip2 starts"}', id="json-naming-bzip2"),
    pytest.param(gzip.compress(TEXT), id="gzip-at-the-start"),  # sniffed by the caller
    pytest.param(JUNK + b"x\x9c" + random.Random(2).randbytes(200), id="zlib-header-then-noise"),
    pytest.param(JUNK + zlib.compress(b"short")[:-4], id="stream-under-16-bytes"),
]


@pytest.mark.parametrize("data", NOT_FOUND)
def test_near_misses_give_nothing(data: bytes) -> None:
    assert embedded_streams(data, LIMIT) == []


def test_an_image_gives_no_text_its_checked_pixels_are_skipped() -> None:
    """Pixels that check out against the header are not searched as streams (png_pixels.py);
    a small image's samples are handed back, unfiltered, to be read; a large one's are not."""
    small = png(64, 64)
    samples = b"".join(small_row[1:] for small_row in _rows(64, 64))
    assert embedded_streams(small, LIMIT) == [samples]
    assert embedded_streams(png(256, 256), LIMIT) == []


def _rows(width: int, height: int) -> list[bytes]:
    """png()'s rows, as its random generator made them."""
    rng = random.Random(width * height)
    return [b"\x00" + rng.randbytes(width * 3) for _ in range(height)]


def test_ordinary_text_is_not_searched() -> None:
    assert embedded_streams(b"x\x01 is not text? it is: " * 1000, LIMIT) == []
    assert embedded_streams("café x^2".encode() * 10_000, LIMIT) == []


def test_output_past_the_limit_is_refused() -> None:
    bomb = JUNK + zlib.compress(b"\x00" * (2 * 1024 * 1024))
    with pytest.raises(DecodeLimitExceeded):
        embedded_streams(bomb, 1024 * 1024)


def test_a_body_made_of_candidates_is_refused_not_half_read() -> None:
    crowd = b"\x00" + b"x\x9c" * (MAX_CANDIDATES + 10)
    with pytest.raises(DecodeLimitExceeded):
        embedded_streams(crowd + zlib.compress(TEXT), LIMIT)


def test_an_embedded_zip_with_an_encrypted_member_is_refused() -> None:
    archive = bytearray(_zip(TEXT))
    archive[6] |= 0x1
    archive[archive.find(b"PK\x01\x02") + 8] |= 0x1
    with pytest.raises(UndecodableBody):
        embedded_streams(JUNK + bytes(archive), LIMIT)


def test_streams_do_not_overlap_and_all_are_read() -> None:
    first, second = b"first part " * 20, f"second {KEY} part ".encode() * 20
    data = JUNK + zlib.compress(first) + JUNK + gzip.compress(second) + JUNK
    outputs = embedded_streams(data, LIMIT)
    assert outputs == [first, second]


def _zip_of(*members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, member in enumerate(members):
            archive.writestr(f"m{index}.txt", member)
    return buffer.getvalue()


DECOY = b"nothing to see in this decoy " * 20


@pytest.mark.parametrize("data", [
    pytest.param(JUNK + _zip_of(DECOY) + gzip.compress(TEXT), id="zip-decoy-then-gzip"),
    pytest.param(_zip_of(DECOY) + gzip.compress(TEXT), id="zip-at-the-start-then-gzip"),
    pytest.param(gzip.compress(DECOY) + JUNK + gzip.compress(TEXT), id="gzip-junk-gzip"),
    pytest.param(zlib.compress(DECOY) + JUNK + zlib.compress(TEXT), id="zlib-junk-zlib"),
    pytest.param(gzip.compress(gzip.compress(DECOY) + JUNK + zlib.compress(TEXT)),
                 id="inside-a-gzip-body-zlib-after-junk"),
    pytest.param(JUNK + _zip_of(TEXT) + _zip_of(DECOY), id="zip-then-zip-decoy"),
    pytest.param(JUNK + _zip_of(DECOY) + _zip_of(TEXT), id="zip-decoy-then-zip"),
    pytest.param(JUNK + lzma.compress(DECOY) + JUNK + gzip.compress(TEXT), id="xz-decoy-then-gzip"),
    pytest.param(JUNK + bz2.compress(DECOY) + gzip.compress(TEXT), id="bzip2-decoy-then-gzip"),
    pytest.param(JUNK + gzip.compress(DECOY)[:-12] + gzip.compress(TEXT), id="cut-gzip-decoy"),
])
def test_a_decoy_stream_does_not_hide_the_one_after_it(data: bytes) -> None:
    assert any(KEY.encode() in output for output in uncompressed_layers(data, LIMIT))


def _zip_of_version(version: int) -> bytes:
    archive = bytearray(_zip_of(TEXT))
    central = archive.find(b"PK\x01\x02")
    archive[central + 6:central + 8] = version.to_bytes(2, "little")  # version needed
    return bytes(archive)


def test_an_archive_of_a_version_python_cannot_read() -> None:
    """Found inside other data it is taken for chance bytes; sent as the body it is refused,
    not passed unread (a newer tool may read it)."""
    assert embedded_streams(JUNK + _zip_of_version(120), LIMIT) == []
    with pytest.raises(UndecodableBody):
        uncompressed_layers(_zip_of_version(120), LIMIT)


def test_an_archive_after_a_prefix_is_read_once_not_once_per_member() -> None:
    archive = _zip_of(*([DECOY] * 299 + [TEXT]))
    outputs = embedded_streams(JUNK + archive, LIMIT)
    assert len(outputs) == 1 and KEY.encode() in outputs[0]


# --- binary data read as text: its runs of text are peeled -----------------------------------

def _binary_with(inner: str, size: int = 64 * 1024) -> str:
    rng = random.Random(size)
    data = rng.randbytes(size // 2) + b"\x00" + inner.encode() + b"\x00" + rng.randbytes(size // 2)
    return data.decode("utf-8", errors="replace")


@pytest.mark.parametrize("inner", [
    pytest.param(f"key {KEY}", id="plain"),
    pytest.param("".join(f"%{b:02X}" for b in f"key {KEY}".encode()), id="percent"),
    pytest.param("\u200b".join(f"key {KEY}"), id="zero-width"),
    pytest.param("".join(chr(ord(c) + 0xFEE0) for c in KEY), id="full-width"),
    pytest.param(base64.b64encode(f"key {KEY}".encode()).decode(), id="base64"),
])
def test_a_key_inside_binary_data_is_found_in_any_layer(inner: str) -> None:
    text = _binary_with(inner)
    inspection = inspect_texts([Field("body", text)], Scanner(), b"k" * 32, max_depth=3)
    assert not inspection.limit_reached
    assert [h.finding.detector for h in inspection.hits] == ["aws_access_key"]


@pytest.mark.parametrize("size", [16 * 1024, 1024 * 1024])
def test_binary_data_read_as_text_stays_within_the_peel_budget(size: int) -> None:
    text = random.Random(size).randbytes(size).decode("utf-8", errors="replace")
    variants = list(peel(text, max_bytes=4 * len(text)))  # raises past the budget
    assert variants[1].layers == ("text_runs",) and len(variants[1].text) < len(text) // 20


def _nested_candidates(count: int, padding: int) -> bytes:
    """zlib headers nested in one stream of stored blocks, each followed by empty blocks and
    all ending in damage: every candidate inflates to the end of the data, which has no known
    end, so the search goes on inside it (red team, 2026-11-22: 0.9 MB took 14 s of CPU)."""
    inner = b"x\x9c\x00" + struct.pack("<HH", 16, 0xFFFF ^ 16) + b"A" * 16
    unit = (b"\x00" + struct.pack("<HH", len(inner), 0xFFFF ^ len(inner)) + inner
            + b"\x00\x00\x00\xff\xff" * padding)
    return b"\x00junk" + b"x\x9c" + unit * count + b"\x07\xff\xff\xff"


def test_candidates_that_each_read_to_the_end_are_refused_not_read_over_and_over() -> None:
    data = _nested_candidates(200, 400)
    with pytest.raises(DecodeLimitExceeded, match="over and over"):
        embedded_streams(data, LIMIT)


def test_many_small_streams_in_a_file_are_each_read_once() -> None:
    """A PDF holds hundreds of FlateDecode streams that end where they should."""
    streams = b"".join(b"stream\n" + zlib.compress(f"page {i} text ".encode() * 50)
                       + b"\nendstream\n" for i in range(500))
    found = embedded_streams(b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n" + streams, LIMIT)
    assert len(found) == 500
