"""Zip archives sent as a body or uploaded: members read with bounds, the unreadable refused."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zipfile

import pytest

from proxy.inspection.archives import MAX_MEMBERS, zip_members
from proxy.inspection.body_fields import body_fields
from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.readings import MAX_ARCHIVE_DEPTH, uncompressed_layers

MiB = 1024 * 1024
LIMIT = 10 * MiB
KEY = "AKIAQ3FXN7TRZ4LWPK2B"
CREDENTIALS = f"[default]\naws_access_key_id = {KEY}\n" + "region = eu-west-1\n" * 20


def _zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _patch_headers(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Set one field in the local header and in the central directory entry (same field,
    offsets 6/8 in the local header are 8/10 in the central one)."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    central = out.find(b"PK\x01\x02")
    struct.pack_into(fmt, out, central + offset + 2, value)
    return bytes(out)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                    zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_every_member_is_read_whatever_its_method(method: int) -> None:
    data = _zip({"dir/": b"", ".aws/credentials": CREDENTIALS.encode(), "b.txt": b"other"},
                method)
    assert zip_members(data, LIMIT) == [CREDENTIALS.encode(), b"other"]


def test_a_zip_body_and_a_zip_upload_are_scanned_through_body_fields() -> None:
    data = _zip({"creds": CREDENTIALS.encode()})
    assert KEY.encode() not in data  # deflate hides it from a scan of the bytes
    as_body = [f.text for f in body_fields(data, "application/zip", limit=LIMIT)]
    upload = (b'--b\r\nContent-Disposition: form-data; name="f"; filename="c.zip"\r\n\r\n'
              + data + b"\r\n--b--\r\n")
    as_part = [f.text for f in body_fields(upload, "multipart/form-data; boundary=b",
                                           limit=LIMIT)]
    assert CREDENTIALS in as_body
    assert CREDENTIALS in as_part


def test_a_member_with_a_wrong_crc_is_still_read() -> None:
    data = _patch_headers(_zip({"creds": CREDENTIALS.encode()}), 14, "<I", 0xDEADBEEF)
    assert zip_members(data, LIMIT) == [CREDENTIALS.encode()]


def test_an_encrypted_member_is_refused() -> None:
    data = _patch_headers(_zip({"creds": CREDENTIALS.encode()}), 6, "<H", 0x1)
    with pytest.raises(UndecodableBody):
        zip_members(data, LIMIT)


def test_a_member_in_a_method_python_cannot_read_is_refused() -> None:
    data = _patch_headers(_zip({"creds": CREDENTIALS.encode()}), 8, "<H", 9)  # deflate64
    with pytest.raises(UndecodableBody):
        zip_members(data, LIMIT)


def test_more_members_than_the_cap_are_refused() -> None:
    data = _zip({f"f{n}": b"x" for n in range(MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)
    with pytest.raises(DecodeLimitExceeded):
        zip_members(data, LIMIT)


def test_a_zip_bomb_stops_at_the_limit() -> None:
    bomb = _zip({"zeros": bytes(200 * MiB)})
    assert len(bomb) < MiB

    def read() -> None:
        with pytest.raises(DecodeLimitExceeded):
            zip_members(bomb, MiB)

    tracemalloc.start()
    try:
        read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB + len(bomb)


@pytest.mark.parametrize("data", [
    b"PK\x03\x04 then nothing of a zip",
    _zip({"creds": CREDENTIALS.encode()})[:-30],  # the central directory cut off
    b"not a zip at all",
    b"",
])
def test_what_does_not_parse_as_a_zip_gives_nothing(data: bytes) -> None:
    assert zip_members(data, LIMIT) == []


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                    zipfile.ZIP_LZMA])
def test_damaged_archives_give_members_or_a_refusal_never_another_error(method: int) -> None:
    """Random bytes changed in an archive once raised zipfile's IndexError (an empty member
    name) or the LZMA decoder's error (bad options) past the reader: the hook then refused
    with internal_error, or an honest binary upload with a chance `PK\\x03\\x04` did."""
    archive = _zip({"a.txt": CREDENTIALS.encode(), "dir/": b"", "b.txt": b"x" * 10}, method)
    rng = random.Random(method)
    for _ in range(3000):
        damaged = bytearray(archive)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        for found_inside in (False, True):
            try:
                members = zip_members(bytes(damaged), LIMIT, found_inside=found_inside)
            except (UndecodableBody, DecodeLimitExceeded):
                continue
            assert isinstance(members, list)



def test_archives_inside_archives_are_opened_to_a_depth() -> None:
    """A .jar in a .war in a .zip: each member that is an archive gives its own members, down
    to MAX_ARCHIVE_DEPTH archives below the first; deeper ones are left as bytes."""
    data = b"key = AKIA2OGYBAH6STMMNXNQ"
    for level in range(MAX_ARCHIVE_DEPTH + 1):
        data = _zip({f"level{level}.zip": data})
    assert b"key = AKIA2OGYBAH6STMMNXNQ" in uncompressed_layers(data, 1 << 20)
    assert b"key = AKIA2OGYBAH6STMMNXNQ" not in uncompressed_layers(_zip({"x.zip": data}),
                                                                     1 << 20)


def test_archives_inside_archives_share_one_limit() -> None:
    """Each archive is read within the limit: together they must be too (nested bombs)."""
    member = bytes(300_000)
    inner = _zip({"a": member, "b": member})
    with pytest.raises(DecodeLimitExceeded):
        uncompressed_layers(_zip({"one.zip": inner, "two.zip": inner}), 1_000_000)
    assert uncompressed_layers(_zip({"one.zip": inner}), 1_000_000)
