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
import io
import json
import lzma
import random
import string
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable

import pytest
import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proxy.inspection.body_fields import body_fields
from proxy.inspection.compression import XZ_MEMLIMIT, decompress, sniff_format
from proxy.inspection.decode_errors import (
    DecodeLimitExceeded,
    DepthLimitExceeded,
    TruncatedStream,
    UndecodableBody,
)
from proxy.inspection.layers import peel
from proxy.inspection.readings import MAX_COMPRESSED_LAYERS, uncompressed_layers
from tests.unit.test_archives import _zip

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


# a private key's DER (PKCS#8): what a `.der` key file holds, without PEM lines
_KEY_DER = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption())


def _gz(data: bytes, times: int = 1) -> bytes:
    for _ in range(times):
        data = gzip.compress(data)
    return data


_NESTED_IN_RUNS: dict[str, Callable[[bytes], str]] = {
    "base64-gzip-gzip": lambda d: base64.b64encode(_gz(d, 2)).decode(),
    "base64-gzip-x3": lambda d: base64.b64encode(_gz(d, 3)).decode(),
    "base64-zlib-gzip": lambda d: base64.b64encode(zlib.compress(_gz(d))).decode(),
    "base64-bzip2-gzip": lambda d: base64.b64encode(bz2.compress(_gz(d))).decode(),
    "hex-gzip-gzip": lambda d: _gz(d, 2).hex(),
    "base64-junk-gzip": lambda d: base64.b64encode(b"\x00" + _gz(d)).decode(),
    "base64-4-junk-zlib": lambda d: base64.b64encode(b"\x00\x01\x02\x03"
                                                     + zlib.compress(d)).decode(),
    "base64-junk-gzip-gzip": lambda d: base64.b64encode(b"\x07" + _gz(d, 2)).decode(),
    "hex-junk-bzip2": lambda d: (b"\xff" + bz2.compress(d)).hex(),
}


@pytest.mark.parametrize("wrap", _NESTED_IN_RUNS.values(), ids=_NESTED_IN_RUNS)
def test_a_run_that_decodes_to_nested_or_prefixed_streams_is_opened_to_the_end(
        wrap: Callable[[bytes], str]) -> None:
    found = [layer.text for layer in peel("note: " + wrap(TEXT), max_bytes=LIMIT)]
    assert any(TEXT.decode() in text for text in found)


def test_a_run_that_decodes_to_a_compressed_private_key_reads_as_its_pem() -> None:
    found = [layer for layer in peel(base64.b64encode(_gz(_KEY_DER)).decode(),
                                     max_bytes=LIMIT)]
    assert any("PRIVATE KEY-----" in layer.text and layer.layers[-1] == "der"
               for layer in found)


_ZIPPED_IN_RUNS: dict[str, Callable[[bytes], str]] = {
    "base64-zip": lambda d: base64.b64encode(_zip({"a.txt": d})).decode(),
    "base64-zip-stored": lambda d: base64.b64encode(_zip({"a.txt": d}, zipfile.ZIP_STORED))
    .decode(),
    "base64-zip-gzip": lambda d: base64.b64encode(_zip({"a.gz": _gz(d)})).decode(),
    "base64-zip-zip": lambda d: base64.b64encode(_zip({"in.zip": _zip({"a.txt": d})})).decode(),
    "hex-zip-bzip2": lambda d: _zip({"a.bz2": bz2.compress(d)}).hex(),
}


@pytest.mark.parametrize("wrap", _ZIPPED_IN_RUNS.values(), ids=_ZIPPED_IN_RUNS)
def test_a_run_that_decodes_to_a_zip_archive_is_opened(wrap: Callable[[bytes], str]) -> None:
    found = [layer.text for layer in peel('{"file": "' + wrap(TEXT) + '"}', max_bytes=LIMIT)]
    assert any(TEXT.decode() in text for text in found)


def test_a_run_that_decodes_to_an_encrypted_zip_member_is_refused() -> None:
    data = bytearray(_zip({"a.txt": TEXT}, zipfile.ZIP_STORED))
    data[6] |= 1  # the local header's "encrypted" flag
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # and the central directory's
    with pytest.raises(DecodeLimitExceeded):
        list(peel(base64.b64encode(bytes(data)).decode(), max_bytes=LIMIT))


def test_decompressed_output_earns_room_for_its_own_variants() -> None:
    """A base64 .tgz in a JSON body (`npm publish`) holds several times its size: each of its
    whole-text decodings is a copy of all of it, which the budget of the base64 text alone
    (16 times its length) did not cover, so the package was refused."""
    rnd = random.Random(7)
    words = ["".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(3, 9)))
             for _ in range(3000)]
    text = "".join(f"{rnd.choice(words)} p=%2Fu%2F{rnd.choice(words)}+x &amp; {rnd.choice(words)}"
                   f" \\x41 \\41 =41 \uff21 {rnd.choice(words)}\n" for _ in range(12000))
    packed = base64.b64encode(gzip.compress(text.encode())).decode()
    variants = list(peel(packed, max_bytes=16 * len(packed)))
    assert sum(len(v.text) for v in variants) > 16 * len(packed)  # more than it had to spend


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_KEY_HIDDEN: dict[str, Callable[[bytes], bytes]] = {
    "after-a-byte": lambda key: b"\x00" + key,
    "after-text": lambda key: b"notes for the deploy\n" + key,
    "in-a-tar": lambda key: _tar("id.der", key),
    "in-a-tar-gz": lambda key: _gz(_tar("id.der", key)),
}


@pytest.mark.parametrize("hide", _KEY_HIDDEN.values(), ids=_KEY_HIDDEN)
def test_a_private_key_after_a_prefix_or_in_a_tar_is_read_as_its_pem(
        hide: Callable[[bytes], bytes]) -> None:
    data = hide(_KEY_DER)
    in_run = [layer.text for layer in peel(base64.b64encode(data).decode(), max_bytes=LIMIT)]
    assert any("PRIVATE KEY-----" in text for text in in_run)  # in base64
    layers = uncompressed_layers(data, LIMIT)  # and sent as it is
    assert any(b"PRIVATE KEY-----" in layer for layer in layers)


_STREAM_HIDDEN: dict[str, Callable[[bytes], bytes]] = {
    "after-text": lambda d: b"a note of two kilobytes " * 80 + _gz(d),
    "after-a-decoy-stream": lambda d: zlib.compress(b"nothing here") + _gz(d),
    "after-a-damaged-decoy": lambda d: _gz(b"decoy")[:-6] + b"JUNK" + _gz(d),
    "inside-text-inside-gzip": lambda d: _gz(b"text first\n" + _gz(d)),
}


@pytest.mark.parametrize("hide", _STREAM_HIDDEN.values(), ids=_STREAM_HIDDEN)
def test_a_stream_after_text_or_a_decoy_inside_a_run_is_opened(
        hide: Callable[[bytes], bytes]) -> None:
    for encoded in (base64.b64encode(hide(TEXT)).decode(), hide(TEXT).hex()):
        found = [layer.text for layer in peel("x " + encoded, max_bytes=LIMIT)]
        assert any(TEXT.decode()[:40] in text for text in found)


def _gzip_named(name: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer) as packed:
        packed.write(b"nothing to see")
    return buffer.getvalue()


def _zip_commented(comment: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"nothing to see")
        archive.comment = comment.encode()
    return buffer.getvalue()


_METADATA: dict[str, Callable[[str], bytes]] = {
    "gzip-file-name": _gzip_named,
    "zip-member-name": lambda key: _zip({key: b"x"}),
    "zip-comment": _zip_commented,
}


@pytest.mark.parametrize("pack", _METADATA.values(), ids=_METADATA)
def test_a_containers_own_text_is_read_when_it_is_opened_inside_a_run(
        pack: Callable[[str], bytes]) -> None:
    key = "AKIAQ3FXN7TRZ4LWPK2B"
    found = [layer.text for layer in peel(base64.b64encode(pack(key)).decode(),
                                          max_bytes=LIMIT)]
    assert any(key in text for text in found)


@pytest.mark.parametrize("times", [MAX_COMPRESSED_LAYERS + 1, MAX_COMPRESSED_LAYERS + 2])
def test_a_run_compressed_past_the_bound_is_refused(times: int) -> None:
    with pytest.raises(DepthLimitExceeded):
        list(peel("note: " + base64.b64encode(_gz(TEXT, times)).decode(), max_bytes=LIMIT))


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


def _gzipped(data: bytes, times: int) -> bytes:
    for _ in range(times):
        data = gzip.compress(data)
    return data


def test_compressed_layers_are_undone_to_a_bound() -> None:
    layers = uncompressed_layers(_gzipped(TEXT, MAX_COMPRESSED_LAYERS), LIMIT)
    assert layers[-1] == TEXT
    # Each layer may also give one stream found inside it (embedded.py): gzip stores a small
    # incompressible input as it is, so the next gzip shows through. Still bounded.
    assert MAX_COMPRESSED_LAYERS <= len(layers) <= 3 * MAX_COMPRESSED_LAYERS


@pytest.mark.parametrize("times", [MAX_COMPRESSED_LAYERS + 1, MAX_COMPRESSED_LAYERS + 2])
def test_data_compressed_past_the_bound_is_refused_not_forwarded(times: int) -> None:
    with pytest.raises(DepthLimitExceeded):
        uncompressed_layers(_gzipped(TEXT, times), LIMIT)
    # and after a byte of junk, which hides the first magic number
    with pytest.raises(DepthLimitExceeded):
        uncompressed_layers(b"\x00" + _gzipped(TEXT, times), LIMIT)


@pytest.mark.parametrize("wrap", [
    lambda d: b"\x00" + gzip.compress(gzip.compress(d)),  # junk, then nested streams
    lambda d: b"\x00\x01\x02\x03" + zlib.compress(bz2.compress(d)),
], ids=["junk-gzip-gzip", "junk-zlib-bzip2"])
def test_streams_found_after_a_prefix_are_opened_in_turn(wrap: Callable[[bytes], bytes]) -> None:
    assert TEXT in uncompressed_layers(wrap(TEXT), LIMIT)


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
