"""Private keys told by their DER structure: every kind a TLS or SSH library writes, and the
DER that is not a private key (certificates, CSRs, public keys, random bytes)."""

from __future__ import annotations

import base64
import datetime
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from proxy.inspection.der_keys import armoured, private_key_kind, private_keys_within
from proxy.inspection.scanner import Scanner

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
ED = ed25519.Ed25519PrivateKey.generate()
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
CERT = (x509.CertificateBuilder().subject_name(NAME).issuer_name(NAME)
        .public_key(RSA.public_key()).serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2030, 1, 1)).sign(RSA, hashes.SHA256()))
PASSWORD = ser.BestAvailableEncryption(b"pw")


def _der(key: object, fmt: ser.PrivateFormat, encryption: object = None) -> bytes:
    return key.private_bytes(ser.Encoding.DER, fmt,  # type: ignore[attr-defined, no-any-return]
                             encryption or ser.NoEncryption())


def _openssh_blob(key: object) -> bytes:
    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH,  # type: ignore[attr-defined]
                            ser.NoEncryption())
    return base64.b64decode(b"".join(line for line in pem.splitlines()
                                     if not line.startswith(b"-----")))


KEYS = {
    "rsa pkcs1": (_der(RSA, ser.PrivateFormat.TraditionalOpenSSL), ""),
    "rsa pkcs8": (_der(RSA, ser.PrivateFormat.PKCS8), ""),
    "rsa pkcs8 encrypted": (_der(RSA, ser.PrivateFormat.PKCS8, PASSWORD), "ENCRYPTED"),
    "ec sec1": (_der(EC, ser.PrivateFormat.TraditionalOpenSSL), ""),
    "ec pkcs8": (_der(EC, ser.PrivateFormat.PKCS8), ""),
    "ed25519 pkcs8": (_der(ED, ser.PrivateFormat.PKCS8), ""),
    "openssh binary": (_openssh_blob(EC), "OPENSSH"),
    "pkcs12 file": (pkcs12.serialize_key_and_certificates(b"n", RSA, CERT, None, PASSWORD),
                    "ENCRYPTED"),
}

NOT_KEYS = {
    "certificate": CERT.public_bytes(ser.Encoding.DER),
    "csr": x509.CertificateSigningRequestBuilder().subject_name(NAME).sign(
        RSA, hashes.SHA256()).public_bytes(ser.Encoding.DER),
    "rsa public key": RSA.public_key().public_bytes(ser.Encoding.DER,
                                                    ser.PublicFormat.SubjectPublicKeyInfo),
    "rsa public key pkcs1": RSA.public_key().public_bytes(ser.Encoding.DER,
                                                          ser.PublicFormat.PKCS1),
    "ec public key": EC.public_key().public_bytes(ser.Encoding.DER,
                                                  ser.PublicFormat.SubjectPublicKeyInfo),
    "a key's first bytes only": _der(RSA, ser.PrivateFormat.PKCS8)[:6],
    "a key cut short": _der(RSA, ser.PrivateFormat.PKCS8)[:400],  # as documentation elides it
    "text": b"0123456789 plain text that starts with a zero byte's digit",
    "empty": b"",
}


@pytest.mark.parametrize(("data", "kind"), KEYS.values(), ids=KEYS.keys())
def test_every_kind_of_private_key_is_told_by_its_structure(data: bytes, kind: str) -> None:
    assert private_key_kind(data) == kind


@pytest.mark.parametrize("data", NOT_KEYS.values(), ids=NOT_KEYS.keys())
def test_der_that_is_not_a_private_key_is_not_one(data: bytes) -> None:
    assert private_key_kind(data) is None


def test_random_bytes_are_not_private_keys() -> None:
    rng = random.Random(7)
    assert not any(private_key_kind(rng.randbytes(rng.randrange(2, 200))) is not None
                   for _ in range(20_000))


@pytest.mark.parametrize(("data", "kind"), KEYS.values(), ids=KEYS.keys())
def test_the_armoured_form_is_what_the_private_key_detector_reports(scanner: Scanner,
                                                                    data: bytes,
                                                                    kind: str) -> None:
    found = scanner.scan(armoured(data, kind))
    assert [match.detector for match in found] == ["private_key"]


@pytest.mark.parametrize(("name", "data_kind"), [(name, v) for name, v in KEYS.items()],
                         ids=list(KEYS))
def test_a_key_is_found_after_a_prefix(name: str, data_kind: tuple[bytes, str]) -> None:
    data, kind = data_kind
    found = private_keys_within(b"a tar header or some text\n\x00" + data + b"trailing bytes")
    label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
    assert found and found[0].startswith(f"-----BEGIN {label}-----")  # a PKCS#8 key's inner
    # PKCS#1 or SEC1 key may be found too


@pytest.mark.parametrize("data", [
    b"code that names openssh-key-v1\x00 as a constant, and then more code",
    random.Random(11).randbytes(1 << 18),
], ids=["openssh-magic-alone", "random-bytes"])
def test_nothing_that_only_starts_like_a_key_is_found_within(data: bytes) -> None:
    assert private_keys_within(b"x" + data) == []


def test_random_bytes_shaped_like_a_short_key_are_not_one_within_other_data() -> None:
    """A short SEC1-shaped structure without a curve's OID: what random bytes inside base64
    examples of the AWS CLI's docs held."""
    fake = bytes.fromhex("3025020101042000") + random.Random(5).randbytes(31)
    assert private_key_kind(fake) is not None  # the shape alone passes
    assert private_keys_within(b"prefix " + fake) == []


@pytest.mark.parametrize("body", [
    b'{"values": [' + b", ".join(b"0.0%d" % (i % 10) for i in range(70_000)) + b"]}",
    b"[" + b",".join(b"0,0" for _ in range(70_000)) + b"]",
    b"0 0 " * 70_000,
], ids=["json-floats", "zero-pairs", "spaced-zeros"])
def test_text_of_numbers_is_no_flood_of_key_candidates(body: bytes) -> None:
    """A short SEQUENCE once matched "0", any printable byte, "0": every "0.0" of an
    embeddings array was a candidate, and the body was refused past MAX_KEY_CANDIDATES (red
    team honest4). A short key's version INTEGER must follow now."""
    assert private_keys_within(body) == []


def test_a_short_key_after_text_of_numbers_is_still_found() -> None:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    assert len(key) < 128
    found = private_keys_within(b"0.0, " * 5000 + key + b" 0.0")
    assert found == [armoured(key, "")]
