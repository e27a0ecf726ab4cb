"""The members of a zip archive sent as a body or uploaded as a file, read with bounds.

`zip -r creds.zip ~/.aws` then an upload is one command for an agent, and deflate hides every
byte of the files. So a body or multipart part that starts with a zip local file header
(`PK\\x03\\x04`: also .docx, .xlsx, .jar) has its members read and scanned like a body of unknown
type. Bounded: at most MAX_MEMBERS members, and their output together at most the body limit
(DecodeLimitExceeded past either). A member the receiver could read and we cannot — encrypted, or
compressed with a method Python does not have (deflate64, PPMd) — raises UndecodableBody: the
caller blocks rather than forwards it unread. An archive that does not parse (truncated, no
central directory) gives nothing: the receiver cannot read it either.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib

from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody

ZIP_MAGIC = b"PK\x03\x04"
MAX_MEMBERS = 1000
_ENCRYPTED = 0x1  # general purpose bit flag 0
# What zipfile raises on an archive that does not parse, and on a member that is damaged (found
# by mutating archives at random: zipfile's own IndexError on a bad extra field, and the LZMA
# decoder's error on bad options, among the expected ones).
_UNPARSEABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                IndexError, struct.error)
_DAMAGED = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
            RuntimeError, IndexError, struct.error)


def zip_members(data: bytes, limit: int, *, found_inside: bool = False) -> list[bytes]:
    """The uncompressed bytes of every member of the zip archive `data` (directories left out),
    or [] when `data` is not one that parses. An archive of a version Python cannot read raises
    UndecodableBody, unless `found_inside` other data (embedded.py), where header-like bytes
    are most often chance."""
    if not data.startswith(ZIP_MAGIC):
        return []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except _UNPARSEABLE:
        return []
    except NotImplementedError as error:  # a zip version Python cannot read ("version 12.0")
        if found_inside:
            return []  # bytes of other data that only look like an archive's header
        raise UndecodableBody(f"zip archive of an unsupported version: {error}") from None
    if len(infos) > MAX_MEMBERS:
        raise DecodeLimitExceeded(f"zip archive has more than {MAX_MEMBERS} members")
    members: list[bytes] = []
    left = limit
    for info in infos:
        if info.filename.endswith("/"):  # a directory (ZipInfo.is_dir fails on an empty name)
            continue
        if info.flag_bits & _ENCRYPTED:
            raise UndecodableBody("zip archive has an encrypted member")
        member = _read(archive, info, left)
        left -= len(member)
        if left < 0:
            raise DecodeLimitExceeded(f"zip members exceed {limit} bytes")
        members.append(member)
    return members


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, left: int) -> bytes:
    """At most `left + 1` bytes of one member: one more than fits tells the caller it did not.
    A damaged member (a bad CRC included, which Python reports only at its end) gives what
    decoded before the damage, as a tolerant receiver would read it."""
    out = bytearray()
    try:
        with archive.open(info) as member:
            # zipfile checks the CRC in the read that reaches the end and drops that read's
            # data when it is wrong: a receiver that does not check would read it all.
            setattr(member, "_expected_crc", None)  # noqa: B010 - a private attribute
            while len(out) <= left:
                chunk = member.read(min(64 * 1024, left + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except NotImplementedError as error:  # a compression method Python cannot read
        raise UndecodableBody(f"zip member uses an unsupported method: {error}") from None
    except _DAMAGED:
        pass
    return bytes(out)
