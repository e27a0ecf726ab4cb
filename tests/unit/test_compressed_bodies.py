"""Compressed data that no Content-Encoding announces: bzip2 and xz, and bodies, file uploads
and WebSocket messages that are gzip, zlib, zstd, bzip2 or xz data as sent.

A receiver decompresses such a body as easily as we do, so it is read like any other: bounded,
damage tolerated (what decodes before it is kept), and a body that grows past the limit is
refused (DecodeLimitExceeded), never forwarded unread.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
import zstandard

from proxy.inspection.body_fields import body_fields
from proxy.inspection.compression import XZ_MEMLIMIT, decompress, sniff_format
from proxy.inspection.decode_errors import DecodeLimitExceeded, TruncatedStream, UndecodableBody
from proxy.inspection.layers import peel
from proxy.inspection.readings import MAX_COMPRESSED_LAYERS, uncompressed_layers

MiB = 1024 * 1024
LIMIT = 10 * MiB
TEXT = b"key=AKIAQ3FXN7TRZ4LWPK2B and some words around it " * 40

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "zlib": zlib.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


def _peak_memory(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["bzip2", "xz"])
def test_bzip2_and_xz_round_trip_and_are_sniffed(fmt: str) -> None:
    packed = COMPRESSORS[fmt](TEXT)
    assert sniff_format(packed) == fmt
    assert decompress(fmt, packed, limit=LIMIT) == TEXT
    # Both tools concatenate streams (`cat a.bz2 b.bz2`): each is read.
    assert decompress(fmt, packed + COMPRESSORS[fmt](b"more"), limit=LIMIT) == TEXT + b"more"


@pytest.mark.parametrize("fmt", ["bzip2", "xz"])
def test_bzip2_and_xz_damage_is_refused_strictly_and_read_leniently(fmt: str) -> None:
    # bzip2 decodes whole blocks (100 kB at level 1): several of them, so that half the
    # stream holds complete ones.
    data = TEXT * 500
    packed = bz2.compress(data, 1) if fmt == "bzip2" else COMPRESSORS[fmt](data)
    cut = packed[: len(packed) // 2]
    with pytest.raises(TruncatedStream):
        decompress(fmt, cut, limit=LIMIT)
    assert 0 < len(decompress(fmt, cut, limit=LIMIT, lenient=True)) < len(data)
    with pytest.raises(UndecodableBody):
        decompress(fmt, packed + b"not a stream", limit=LIMIT)


@pytest.mark.parametrize("fmt", ["bzip2", "xz"])
def test_bzip2_and_xz_bombs_stop_at_the_limit(fmt: str) -> None:
    bomb = COMPRESSORS[fmt](bytes(256 * MiB))
    assert len(bomb) < MiB

    def decode() -> None:
        with pytest.raises(DecodeLimitExceeded):
            decompress(fmt, bomb, limit=MiB)

    # The output cap and a chunk, the input, and the decoder's own state: an xz stream of the
    # default preset has an 8 MiB dictionary (XZ_MEMLIMIT bounds what a stream may ask for).
    assert _peak_memory(decode) < 16 * MiB + len(bomb)


def _greedy_streams() -> list[bytes]:
    """An xz stream asking for a dictionary over XZ_MEMLIMIT, a zstd frame over
    ZSTD_MAX_WINDOW: readable by a receiver without our limits."""
    xz = lzma.compress(TEXT, format=lzma.FORMAT_XZ, filters=[
        {"id": lzma.FILTER_LZMA2, "dict_size": 2 * XZ_MEMLIMIT}])
    params = zstandard.ZstdCompressionParameters(window_log=27)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    return [xz, compressor.compress(TEXT) + compressor.flush()]


@pytest.mark.parametrize("stream", _greedy_streams(), ids=["xz", "zstd"])
def test_a_stream_asking_for_too_much_memory_is_refused_even_leniently(stream: bytes) -> None:
    fmt = sniff_format(stream)
    assert fmt is not None
    for lenient in (False, True):
        with pytest.raises(DecodeLimitExceeded):
            decompress(fmt, stream, limit=LIMIT, lenient=lenient)
    with pytest.raises(DecodeLimitExceeded):  # a body of it, and the same inside base64
        list(body_fields(stream, None, limit=LIMIT))
    with pytest.raises(DecodeLimitExceeded):
        list(peel(base64.b64encode(stream).decode(), max_bytes=LIMIT))


@pytest.mark.parametrize("data", [
    b"BZh", b"BZh9", b"BZh0" + b"1AY&SY", b"BZhx1AY&SY", b"BZh is a word",
    b"\xfd7zXZ", b"\xfd7zX\x00\x00",
])
def test_near_miss_magic_numbers_are_not_sniffed(data: bytes) -> None:
    assert sniff_format(data) is None


@pytest.mark.parametrize("fmt", COMPRESSORS)
def test_a_body_of_compressed_data_is_read_and_structured(fmt: str) -> None:
    body = COMPRESSORS[fmt](json.dumps({"note": TEXT.decode()}).encode())
    fields = list(body_fields(body, "application/octet-stream", limit=LIMIT))
    assert ("body:$.note", TEXT.decode()) in [(f.location, f.text) for f in fields]


def test_compressed_layers_are_undone_to_a_bound() -> None:
    nested = TEXT
    for _ in range(MAX_COMPRESSED_LAYERS + 2):
        nested = gzip.compress(nested)
    layers = uncompressed_layers(nested, LIMIT)
    # Each layer may also give one stream found inside it (embedded.py): gzip stores a small
    # incompressible input as it is, so the next gzip shows through. Still bounded.
    assert MAX_COMPRESSED_LAYERS <= len(layers) <= 2 * MAX_COMPRESSED_LAYERS
    assert all(sniff_format(layer) == "gzip" for layer in layers)
    assert TEXT not in layers


@pytest.mark.parametrize("data", [
    b"\x1f\x8b\x08" + b"garbage after a gzip magic number",
    b"\x78\x9c" + b"not zlib at all",
    b"BZh91AY&SY" + b"\x00" * 20,
    b"plain text body",
    b"",
])
def test_data_that_only_starts_like_compressed_data_gives_nothing(data: bytes) -> None:
    assert uncompressed_layers(data, LIMIT) == []


def test_a_damaged_compressed_body_gives_what_decodes_before_the_damage() -> None:
    packed = gzip.compress(TEXT * 20)
    assert uncompressed_layers(packed[: len(packed) // 2], LIMIT)[0].startswith(TEXT)


def test_a_compressed_body_larger_than_the_limit_once_decompressed_is_refused() -> None:
    with pytest.raises(DecodeLimitExceeded):
        list(body_fields(gzip.compress(bytes(2 * MiB)), None, limit=MiB))


def test_a_compressed_file_upload_is_read() -> None:
    part = gzip.compress(TEXT)
    body = (b'--b\r\nContent-Disposition: form-data; name="upload"; filename="x.gz"\r\n'
            b"Content-Type: application/gzip\r\n\r\n" + part + b"\r\n--b--\r\n")
    fields = list(body_fields(body, "multipart/form-data; boundary=b", limit=LIMIT))
    assert ("multipart:upload", TEXT.decode()) in [(f.location, f.text) for f in fields]


def test_a_compressed_file_upload_larger_than_the_limit_is_refused() -> None:
    part = gzip.compress(bytes(2 * MiB))
    body = (b'--b\r\nContent-Disposition: form-data; name="upload"\r\n\r\n' + part
            + b"\r\n--b--\r\n")
    with pytest.raises(DecodeLimitExceeded):
        list(body_fields(body, "multipart/form-data; boundary=b", limit=MiB))
