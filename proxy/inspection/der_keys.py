"""Private keys without their PEM armour: the DER bytes themselves, told by their structure.

A PEM key is caught by its `-----BEGIN ... PRIVATE KEY-----` line. Drop that line and send the
base64 body alone, or hex-encode the key, or upload the `.der`/`.key` file as bytes, and the line
is gone, but the bytes still open in any TLS library. `private_key_der(data)` recognises them
from their first bytes: an ASN.1 SEQUENCE that starts as a private key does and a certificate,
public key or CSR does not, or OpenSSH's binary `openssh-key-v1` blob. `armoured(data)` writes
such bytes back as PEM, so that the `private_key` detector reports them (layer "der").
`private_keys_within(data)` finds such keys anywhere after the first byte (a tar member, after
a prefix or text).
"""

from __future__ import annotations

import base64
import re
from typing import NamedTuple

from proxy.inspection.decode_errors import DecodeLimitExceeded

_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
_OPENSSH_MAGIC = b"openssh-key-v1\x00"
# EncryptedPrivateKeyInfo's algorithm: PKCS#5 (PBES1, PBES2) and PKCS#12 password-based schemes
_ENCRYPTION_OID_PREFIXES = (bytes.fromhex("2a864886f70d0105"), bytes.fromhex("2a864886f70d010c01"))
_PKCS7_DATA_OID = bytes.fromhex("2a864886f70d010701")  # a PKCS#12 file's authSafe
MIN_MODULUS_BYTES = 64  # RSA and DSA keys of 512 bits and up
_EC_SCALAR_BYTES = range(16, 81)  # SEC1 private scalars, P-128 to P-521 and the Brainpools


class _Tlv(NamedTuple):
    tag: int
    start: int  # where the content starts
    length: int  # the content's length as declared (it may run past a truncated prefix)

    @property
    def end(self) -> int:
        return self.start + self.length


def _tlv(data: bytes, offset: int) -> _Tlv | None:
    """The DER tag-length header at `offset`, or None when there is none."""
    if offset + 2 > len(data):
        return None
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return _Tlv(tag, offset + 2, first)
    count = first & 0x7F
    if not 1 <= count <= 4 or offset + 2 + count > len(data):
        return None
    length = int.from_bytes(data[offset + 2:offset + 2 + count], "big")
    if length < 0x80 or (count > 1 and length < 0x100):
        return None  # DER uses the shortest form: anything else is not DER
    return _Tlv(tag, offset + 2 + count, length)


def private_key_kind(data: bytes, start: int = 0) -> str | None:
    """The PEM label's kind when `data` holds, from `start`, the DER (or OpenSSH binary) form
    of a private key: "OPENSSH", "ENCRYPTED" (PKCS#8 encrypted, or a PKCS#12 file) or "" (a
    plain PKCS#1, PKCS#8 or SEC1 key); else None. An offset, not a slice: candidates inside a
    large body are many, and each slice would copy the rest of it."""
    if data.startswith(_OPENSSH_MAGIC, start):
        return "OPENSSH"
    outer = _tlv(data, start)
    # The whole key must be there: a key cut short opens nothing (`"MIIG/QIBADAN...ut..."` in
    # documentation), and a run cut out of a longer one decodes to such a prefix.
    if outer is None or outer.tag != _SEQUENCE or outer.length < 32 or outer.end > len(data):
        return None
    first = _tlv(data, outer.start)
    if first is None:
        return None
    if first.tag == _SEQUENCE:  # EncryptedPrivateKeyInfo: { algorithm, encrypted octets }
        oid = _tlv(data, first.start)
        if oid is None or oid.tag != _OID:
            return None
        value = data[oid.start:oid.end]
        return "ENCRYPTED" if value.startswith(_ENCRYPTION_OID_PREFIXES) else None
    if first.tag != _INTEGER or first.length != 1 or first.end > len(data):
        return None
    version, second = data[first.start], _tlv(data, first.end)
    if second is None:
        return None
    if version == 0 and second.tag == _INTEGER and second.length >= MIN_MODULUS_BYTES:
        return ""  # PKCS#1 RSAPrivateKey (version, modulus...), or OpenSSL's DSA key (p...)
    if version in (0, 1) and second.tag == _SEQUENCE:  # PKCS#8: { version, algorithm, key }
        algorithm = _tlv(data, second.start)
        return "" if algorithm is not None and algorithm.tag == _OID else None
    if version == 1 and second.tag == _OCTET_STRING and second.length in _EC_SCALAR_BYTES:
        return ""  # SEC1 ECPrivateKey
    if version == 3 and second.tag == _SEQUENCE:  # PKCS#12: { version 3, authSafe data }
        oid = _tlv(data, second.start)
        if oid is not None and oid.tag == _OID and data[oid.start:oid.end] == _PKCS7_DATA_OID:
            return "ENCRYPTED"
    return None


def armoured(data: bytes, kind: str) -> str:
    """`data` (a private key's DER or OpenSSH bytes) written as PEM."""
    label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
    body = base64.b64encode(data).decode("ascii")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


# Where a private key's DER or OpenSSH blob may start inside other bytes: a SEQUENCE with a
# long length, then a version INTEGER or (PKCS#8 encrypted) a SEQUENCE; a SEQUENCE with a
# short length (an EC or Ed25519 key is under 128 bytes; encrypted, it is not) then a version
# INTEGER 0 or 1; or the OpenSSH magic. Each candidate is then checked by private_key_kind.
# The short form once took any SEQUENCE: "0", any printable byte, "0" matched every "0.0" of
# a JSON array of floats (an embeddings upsert was refused past MAX_KEY_CANDIDATES, red team
# honest4).
_KEY_START = re.compile(rb"\x30(?:\x82..|\x81.)(?:\x02\x01[\x00\x01\x03]|\x30)"
                        rb"|\x30[\x20-\x7f]\x02\x01[\x00\x01]"
                        rb"|openssh-key-v1\x00", re.DOTALL)
MAX_KEY_CANDIDATES = 65536  # per blob (about 2 µs each): certificates start alike; past it,
# refused
MAX_OPENSSH_BLOB = 16384  # bytes read as an OpenSSH key (its blob has no outer length)


def private_keys_within(data: bytes) -> list[str]:
    """The PEM form of every private key's DER (or OpenSSH blob) that starts after the first
    byte of `data` (at the first byte, callers read it as a key already): a key file in a tar
    archive, after a prefix, after text. Raises DecodeLimitExceeded past MAX_KEY_CANDIDATES
    candidates (a body made of them)."""
    keys: list[str] = []
    for number, match in enumerate(_KEY_START.finditer(data, 1)):
        if number >= MAX_KEY_CANDIDATES:
            raise DecodeLimitExceeded(f"more than {MAX_KEY_CANDIDATES} key candidates")
        start = match.start()
        if data.startswith(_OPENSSH_MAGIC, start):
            if _openssh_header(data, start):  # not the magic alone, as a .pyc that names it
                keys.append(armoured(data[start:start + MAX_OPENSSH_BLOB], "OPENSSH"))
            continue
        kind = private_key_kind(data, start)
        outer = _tlv(data, start)
        if kind is None or outer is None:
            continue
        if data[start + 1] < 0x80 and not any(oid in data[start:outer.end] for oid in _KEY_OIDS):
            continue  # a short key names its algorithm or curve; random bytes rarely do
        keys.append(armoured(data[start:outer.end], kind))
    return keys


# The DER of the OIDs a short key (under 128 bytes: EC, Ed25519, X25519, Ed448) names: its
# algorithm in PKCS#8, its curve in SEC1. Random bytes found inside other data pass the
# structure of such a key now and then (three base64 examples in the AWS CLI's docs did).
_KEY_OIDS = tuple(bytes.fromhex(oid) for oid in (
    "06072a8648ce3d0201",  # id-ecPublicKey
    "06082a8648ce3d030107", "06052b81040022", "06052b81040023", "06052b8104000a",  # curves
    "06032b6570", "06032b656e", "06032b6571", "06032b656f",  # Ed25519, X25519, Ed448, X448
    "06092a864886f70d010101",  # rsaEncryption
))
_SSH_NAME = re.compile(rb"[a-z0-9@.-]{1,64}\Z")


def _openssh_header(data: bytes, start: int) -> bool:
    """Whether an OpenSSH magic at `start` is followed by what PROTOCOL.key puts there: a
    cipher name and a KDF name (length-prefixed names), KDF options, and one key."""
    offset = start + len(_OPENSSH_MAGIC)
    for _ in range(2):  # ciphername, kdfname
        if offset + 4 > len(data):
            return False
        length = int.from_bytes(data[offset:offset + 4], "big")
        name = data[offset + 4:offset + 4 + length]
        if len(name) != length or not _SSH_NAME.match(name):
            return False
        offset += 4 + length
    if offset + 4 > len(data):
        return False
    offset += 4 + int.from_bytes(data[offset:offset + 4], "big")  # kdfoptions
    return data[offset:offset + 4] == b"\x00\x00\x00\x01"  # number of keys
